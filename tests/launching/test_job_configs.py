"""Composing a sweep's jobs once per config shape gives each job the config Hydra composes for it."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import pytest
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ValidationError

from lalm_framework.launching.job_configs import JobConfigs, ShapeCachedLoader, shape_cached, use_shape_cache

SWEEP = ["lr=1e-3", "hydra.job.config.override_dirname.exclude_keys=[seed]"]
JOBS = [  # shapes: (lr, seed, +extra), (lr, seed, +extra) again, (model=..., lr)
    ["lr=1e-3", "seed=1", "+extra=a"],
    ["lr=3e-4", "seed=2", "+extra=b"],
    ["lr=5e-4", "seed=3", "+extra=c", "hydra.launcher.n_jobs=3"],
    ["lr=7e-4", "seed=4", "+extra=d", "hydra.launcher.n_jobs=4"],
    ["model=tiny", "lr=1e-4"],
    ["lr=2e-4", "seed=5", "+extra=e"],
]


@pytest.fixture
def loader_and_config() -> Iterator[tuple[object, DictConfig]]:
    with initialize_config_module("lalm_framework.conf", version_base=None):
        loader = GlobalHydra.instance().config_loader()
        config = loader.load_configuration("train", SWEEP + ["hydra/launcher=lalm_pool"], run_mode=RunMode.MULTIRUN)
        yield loader, config


def _plain(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]


def test_each_job_equals_hydras_own_composition(loader_and_config: tuple) -> None:
    loader, config = loader_and_config
    cached = ShapeCachedLoader(loader)
    configs = [cached.load_sweep_config(config, job) for job in JOBS]
    assert cached._jobs is not None and cached._jobs.composed == 3  # one full composition per shape
    for job, got in zip(JOBS, configs, strict=True):
        expected = loader.load_sweep_config(config, job)
        assert _plain(got) == _plain(expected), job
    # the hydra node is the job's own: its overrides and the dir name made of them
    assert configs[1].hydra.overrides.task == ["lr=3e-4", "seed=2", "+extra=b"]
    assert configs[1].hydra.job.override_dirname == "+extra=b,lr=3e-4"  # seed excluded, as configured
    assert configs[3].hydra.overrides.hydra[-1] == "hydra.launcher.n_jobs=4"
    assert configs[3].hydra.launcher.n_jobs == 4
    # every call returns its own config: a later job does not change an earlier one
    assert configs[0].lr == 1e-3 and configs[0].extra == "a"


def test_bad_values_fail_as_in_hydra(loader_and_config: tuple) -> None:
    loader, config = loader_and_config
    cached = ShapeCachedLoader(loader)
    cached.load_sweep_config(config, ["lr=1e-3"])
    with pytest.raises(ConfigCompositionException, match="Error merging override lr=fast") as known_shape:
        cached.load_sweep_config(config, ["lr=fast"])  # a known shape: set with OmegaConf's type check
    with pytest.raises(ConfigCompositionException, match="Error merging override lr=fast") as hydra:
        loader.load_sweep_config(config, ["lr=fast"])
    assert type(known_shape.value.__cause__) is type(hydra.value.__cause__) is ValidationError
    with pytest.raises(ConfigCompositionException):  # a new shape: Hydra composes it
        cached.load_sweep_config(config, ["no_such_key=1"])


def test_pickles_as_the_loader_it_wraps(loader_and_config: tuple) -> None:
    loader, config = loader_and_config
    cached = shape_cached(loader)
    assert shape_cached(cached) is cached  # never wrapped twice
    cached.load_sweep_config(config, ["lr=1e-3"])
    assert type(pickle.loads(pickle.dumps(cached))) is type(loader)  # the cache stays here


def test_launcher_setup_gives_the_sweeper_the_cached_loader(loader_and_config: tuple) -> None:
    from hydra.types import HydraContext

    from hydra_plugins.lalm_pool.lalm_pool_launcher import LalmPoolLauncher

    loader, config = loader_and_config
    context = HydraContext(config_loader=loader, callbacks=None)  # type: ignore[arg-type]
    options = {k: v for k, v in OmegaConf.to_container(config.hydra.launcher).items() if k != "_target_"}  # type: ignore[union-attr]
    LalmPoolLauncher(**options).setup(hydra_context=context, task_function=lambda cfg: None, config=config)
    assert isinstance(context.config_loader, ShapeCachedLoader) and context.config_loader.loader is loader
    use_shape_cache(context)
    assert context.config_loader.loader is loader  # idempotent


def test_job_configs_sets_the_jobs_overrides(loader_and_config: tuple) -> None:
    loader, config = loader_and_config
    jobs = JobConfigs(config, loader)
    jobs.compose(["lr=1e-3", "seed=7"])
    cfg = jobs.compose(["lr=2e-3", "seed=8"])
    assert list(cfg.hydra.overrides.task) == ["lr=2e-3", "seed=8"] and cfg.lr == 2e-3


def test_a_sweep_of_new_shapes_falls_back_to_hydras_loader(loader_and_config: tuple, monkeypatch) -> None:
    loader, config = loader_and_config
    monkeypatch.setattr(JobConfigs, "MAX_MISSES", 3)  # the rule, at a size a test can afford
    jobs = [
        ["model=tiny", "lr=1e-4"],  # a new shape
        ["model=tiny", "lr=2e-4"],  # set into it
        ["+extra_a=1"],  # new shape
        ["+extra_b=1", "seed=3"],  # the third new shape, more than half of the jobs: Hydra alone from now
        ["model=tiny", "lr=3e-4"],  # a known shape, composed by Hydra all the same
        ["lr=5e-4", "seed=4"],
    ]
    cached = ShapeCachedLoader(loader)
    configs, caching = [], []
    for job in jobs:
        configs.append(cached.load_sweep_config(config, job))
        assert cached._jobs is not None
        caching.append(cached._jobs.caching)
    assert caching == [True, True, True, False, False, False]
    assert (cached._jobs.composed, cached._jobs.hits, cached._jobs.shapes) == (5, 1, {})  # nothing kept
    for job, got in zip(jobs, configs, strict=True):
        assert _plain(got) == _plain(loader.load_sweep_config(config, job)), job
    assert len({id(c) for c in configs}) == len(configs)  # each job its own config


def test_a_sweep_whose_shapes_repeat_keeps_its_cache(loader_and_config: tuple, monkeypatch) -> None:
    loader, config = loader_and_config
    monkeypatch.setattr(JobConfigs, "MAX_MISSES", 3)
    jobs = [["lr=1e-3"], ["lr=2e-3"], ["lr=3e-3"], ["model=tiny"], ["model=tiny"], ["+extra=x"], ["lr=4e-3"]]
    cached = ShapeCachedLoader(loader)
    configs = [cached.load_sweep_config(config, job) for job in jobs]
    assert cached._jobs is not None and cached._jobs.caching  # as many hits as new shapes
    assert (cached._jobs.composed, cached._jobs.hits) == (3, 4)
    assert configs[-1].lr == 4e-3 and "extra" not in configs[-1]  # set as Hydra does (compared above)


def test_the_pool_template_composes_once_per_shape_then_leaves_it_to_the_jobs(
    loader_and_config: tuple, monkeypatch
) -> None:
    from lalm_framework.launching.pool.launcher import compose_job

    loader, config = loader_and_config
    monkeypatch.setattr(JobConfigs, "MAX_MISSES", 2)
    shared = {"config": config, "hydra_context": type("Context", (), {"config_loader": loader})()}
    first = compose_job(shared, {"idx": 0, "overrides": ["lr=1e-3", "seed=1"]})
    assert first is not None and _plain(first) == _plain(loader.load_sweep_config(config, ["lr=1e-3", "seed=1"]))
    second = compose_job(shared, {"idx": 1, "overrides": ["lr=2e-3", "seed=2"]})  # set into the first one
    assert second is not None and _plain(second) == _plain(loader.load_sweep_config(config, ["lr=2e-3", "seed=2"]))
    assert shared["job_configs"].composed == 1
    assert compose_job(shared, {"idx": 2, "overrides": ["+a=1"]}) is not None  # 2 new shapes in 3 jobs: the last one
    assert compose_job(shared, {"idx": 3, "overrides": ["+b=1"]}) is None  # from now on each job composes itself
    assert compose_job(shared, {"idx": 4, "overrides": ["lr=3e-3", "seed=3"]}) is None
