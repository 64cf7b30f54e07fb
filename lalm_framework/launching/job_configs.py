"""The composed config of each job of a sweep, one full composition per config *shape*.

Composing a job costs tens of milliseconds (the whole defaults tree). The jobs of a sweep mostly
share one config shape: the same overrides with other values (`lr=1e-4`, `lr=3e-4`, ...). Per
shape one job is composed; for each other job of it, its own values are put into that config, in
the order Hydra applies them (merge with type checks): every override of the shape is set again,
so the result is the config Hydra would compose for that job, whatever job the config held
before; its `hydra.overrides` and `hydra.job.override_dirname` are the job's own too. What decides
a shape: the override keys and kinds, the chosen config-group options (they change the defaults
tree), and any value that is not a scalar (a dict would merge, not replace).

Used by the SLURM launcher (every job checked against its request), the Optuna sweeper (every
trial composes), `lalm_pool`'s template (each job's config, before its fork) and, through
`ShapeCachedLoader`, by Hydra's own sweepers' check that every job of a batch composes, before
anything starts. A sweep whose shapes do not repeat falls back to Hydra's loader alone
(`JobConfigs.MAX_MISSES`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from hydra.core.config_loader import ConfigLoader
from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.object_type import ObjectType
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import ConfigCompositionException
from hydra.plugins.config_source import ConfigSource
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from lalm_framework.compat.private_api import overrides_dirname

Shape = tuple[tuple[str, str, str | None, str | None], ...]


class JobConfigs:
    """Composes the jobs of one sweep (its primary config and Hydra config loader)."""

    # A sweep whose jobs keep bringing new shapes (a group choice or a new key per job) gains
    # nothing from the cache and pays its bookkeeping (parsing, the shape, a kept config per
    # shape, a copy per job) on top of each composition: after this many new shapes, while they
    # are more than half of the jobs, every later job is composed by Hydra's loader alone.
    MAX_MISSES = 8

    def __init__(self, config: DictConfig, loader: Any) -> None:
        self.config = config
        self.loader = loader
        self.parser = OverridesParser.create()
        self.shapes: dict[Shape, DictConfig] = {}
        self._groups: dict[str, bool] = {}
        self.composed = 0  # full compositions (the other jobs were set into one of them)
        self.hits = 0  # jobs set into the config of a shape composed before
        self.caching = True  # False once the sweep has shown that its shapes do not repeat
        self._master_hydra = list(OmegaConf.to_container(config.hydra.overrides.hydra) or [])

    def compose(self, overrides: Sequence[str]) -> DictConfig:
        """The job's config (valid until the next call): Hydra's errors for a job that does not compose."""
        if not self.caching:
            plain: DictConfig = self.loader.load_sweep_config(self.config, list(overrides))
            self.composed += 1
            return plain
        parsed = self.parser.parse_overrides(list(overrides))
        shape = self._shape(parsed)
        known = self.shapes.get(shape)
        if known is None:
            job_cfg: DictConfig = self.loader.load_sweep_config(self.config, list(overrides))
            self.composed += 1
            self.shapes[shape] = job_cfg
            if self.composed >= self.MAX_MISSES and self.composed > self.hits:
                self.caching = False
                self.shapes = {}  # the sweep holds each job's config itself now, not this cache
            return job_cfg
        self.hits += 1
        for override in parsed:
            if override.is_delete() or self._is_group(override):
                continue  # the same in every job of the shape
            # `+key` added the key in the composed job already: setting it is what Hydra did
            key, value = override.key_or_group, override.value()
            try:
                OmegaConf.update(known, key, value, merge=True, force_add=override.is_add())
            except OmegaConfBaseException as e:  # Hydra's own words for a value that does not fit
                raise ConfigCompositionException(f"Error merging override {override.input_line}") from e
        self._record_overrides(known, parsed)
        return known

    def _record_overrides(self, job_cfg: DictConfig, parsed: Sequence[Override]) -> None:
        """What Hydra's composition writes about the job's own overrides, for this job."""
        task = [o for o in parsed if not o.is_hydra_override()]
        with open_dict(job_cfg.hydra):
            job_cfg.hydra.overrides.task = [o.input_line for o in task]
            job_cfg.hydra.overrides.hydra = self._master_hydra + [o.input_line for o in parsed if o.is_hydra_override()]
            job_cfg.hydra.job.override_dirname = overrides_dirname(task, job_cfg)

    def _shape(self, parsed: Sequence[Override]) -> Shape:
        shape = []
        for o in parsed:
            value = o.value()
            keep = self._is_group(o) or o.is_delete() or isinstance(value, (dict, list)) or o.is_sweep_override()
            shape.append((o.type.name, o.key_or_group, o.package, str(value) if keep else None))
        return tuple(shape)

    def _is_group(self, override: Override) -> bool:
        """A config-group choice (`model=tiny`, `hydra/launcher=x`): it changes the defaults tree."""
        if override.package is not None:
            return True
        key = override.key_or_group
        if key not in self._groups:
            self._groups[key] = bool(self.loader.get_group_options(key))
        return self._groups[key]


class ShapeCachedLoader(ConfigLoader):
    """Hydra's config loader with `load_sweep_config` composing once per config shape (`JobConfigs`).

    A job whose shape was composed before costs a copy and a few `OmegaConf.update`s (~15 ms
    here) instead of a full composition (~150 ms); each call returns its own config, equal to
    Hydra's. Our launchers give it to the sweeper (`use_shape_cache`), whose check that every job
    of a batch composes (`Sweeper.validate_batch_is_legal`) otherwise costs a full composition
    per job before the first one starts. It pickles as the loader it wraps: the cache stays in
    the launcher process (`lalm_pool`'s template keeps its own, `compose_job`).

    A sweep whose shapes do not repeat (a new key or group choice per job) gains nothing: after
    `JobConfigs.MAX_MISSES` new shapes that are more than half of its jobs, every later job is
    Hydra's loader alone, with no copy and nothing kept, so such a sweep costs what Hydra costs.

    Measured (`benchmarks/bench_shape_cache.py`, `lalm-train`'s config, `experiment=digits`, both
    sides interleaved job by job, 2 shared cores at load 12-14, 2026-12-07; Hydra -> cached, wall
    ratio, CPU ratio):

    - one shape (`seed=0..N-1`): 16 jobs 10.8 s -> 1.5 s (7.4x, CPU 6.6x); 100 jobs 125 s ->
      10.4 s (12.0x, CPU 10.6x); 1000 jobs 1637 s -> 144 s (11.4x, CPU 11.2x; Hydra's side
      composed every 10th job and scaled, `--hydra-every 10`);
    - a new shape per job (`+unused_i=1`): 16 jobs 14.3 s -> 14.7 s (1.0x, CPU 0.9x); 100 jobs
      76.7 s -> 79.2 s (1.0x, CPU 1.0x); 1000 jobs 885 s -> 902 s (1.0x, CPU 1.0x). Before the
      fallback this case cost 0.8x (16 jobs) and 0.4x (100 jobs).

    Kept: a grid of one shape is the usual sweep, and the worst case is now Hydra's own cost.

    >>> loader = ShapeCachedLoader(hydra_context.config_loader)  # doctest: +SKIP
    >>> cfg = loader.load_sweep_config(config, ["lr=3e-4"])  # doctest: +SKIP
    """

    def __init__(self, loader: ConfigLoader) -> None:
        self.loader = loader
        self._jobs: JobConfigs | None = None

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        if self._jobs is None or self._jobs.config is not master_config:
            self._jobs = JobConfigs(master_config, self.loader)
        job_cfg = self._jobs.compose(sweep_overrides)
        # a config the cache keeps is copied (the next job of its shape is set into it); once the
        # cache has given up, each config is Hydra's own, fresh, and needs no copy
        return copy.deepcopy(job_cfg) if self._jobs.caching else job_cfg

    def load_configuration(
        self,
        config_name: str | None,
        overrides: list[str],
        run_mode: RunMode,
        from_shell: bool = True,
        validate_sweep_overrides: bool = True,
    ) -> DictConfig:
        return self.loader.load_configuration(config_name, overrides, run_mode, from_shell, validate_sweep_overrides)

    def get_search_path(self) -> ConfigSearchPath:
        return self.loader.get_search_path()

    def get_sources(self) -> list[ConfigSource]:
        return self.loader.get_sources()

    def list_groups(self, parent_name: str) -> list[str]:
        return self.loader.list_groups(parent_name)

    def get_group_options(
        self,
        group_name: str,
        results_filter: ObjectType | None = ObjectType.CONFIG,
        config_name: str | None = None,
        overrides: list[str] | None = None,
    ) -> list[str]:
        return self.loader.get_group_options(group_name, results_filter, config_name, overrides)

    def compute_defaults_list(self, config_name: str | None, overrides: list[str], run_mode: RunMode) -> Any:
        return self.loader.compute_defaults_list(config_name, overrides, run_mode)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unwrapped, (self.loader,))


def _unwrapped(loader: ConfigLoader) -> ConfigLoader:
    return loader


def shape_cached(loader: ConfigLoader) -> ShapeCachedLoader:
    """`loader` composing sweep jobs once per config shape (itself if it already does)."""
    return loader if isinstance(loader, ShapeCachedLoader) else ShapeCachedLoader(loader)


def use_shape_cache(hydra_context: Any) -> None:
    """Let the sweeper sharing this `HydraContext` compose its batch checks once per config shape.

    Hydra's sweepers check that every job composes with `hydra_context.config_loader` before
    launching; our launchers' `setup` wraps that loader so the check costs one composition per
    config shape, not per job.
    """
    hydra_context.config_loader = shape_cached(hydra_context.config_loader)
