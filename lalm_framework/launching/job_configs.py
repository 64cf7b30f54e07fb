"""The composed config of each job of a sweep, one full composition per config *shape*.

Composing a job costs tens of milliseconds (the whole defaults tree). The jobs of a sweep mostly
share one config shape: the same overrides with other values (`lr=1e-4`, `lr=3e-4`, ...). Per
shape one job is composed; for each other job of it, its own values are put into that config, in
the order Hydra applies them (merge with type checks): every override of the shape is set again,
so the result is the config Hydra would compose for that job (the `hydra` node aside), whatever
job the config held before, and no copy is made. What decides a shape: the override keys and
kinds, the chosen config-group options (they change the defaults tree), and any value that is not
a scalar (a dict would merge, not replace).

Used by the SLURM launcher (every job checked against its request) and the Optuna sweeper (every
trial composes) before anything starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf

Shape = tuple[tuple[str, str, str | None, str | None], ...]


class JobConfigs:
    """Composes the jobs of one sweep (its primary config and Hydra config loader)."""

    def __init__(self, config: DictConfig, loader: Any) -> None:
        self.config = config
        self.loader = loader
        self.parser = OverridesParser.create()
        self.shapes: dict[Shape, DictConfig] = {}
        self._groups: dict[str, bool] = {}
        self.composed = 0  # full compositions (the other jobs were set into one of them)

    def compose(self, overrides: Sequence[str]) -> DictConfig:
        """The job's config (valid until the next call): Hydra's errors for a job that does not compose."""
        parsed = self.parser.parse_overrides(list(overrides))
        shape = self._shape(parsed)
        known = self.shapes.get(shape)
        if known is None:
            job_cfg: DictConfig = self.loader.load_sweep_config(self.config, list(overrides))
            self.composed += 1
            self.shapes[shape] = job_cfg
            return job_cfg
        for override in parsed:
            if override.is_delete() or self._is_group(override):
                continue  # the same in every job of the shape
            # `+key` added the key in the composed job already: setting it is what Hydra did
            OmegaConf.update(known, override.key_or_group, override.value(), merge=True, force_add=override.is_add())
        return known

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
