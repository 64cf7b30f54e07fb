"""SLURM presets and request checks, without a cluster (fast)."""

from __future__ import annotations

from typing import Any

import pytest
from hydra import compose, initialize_config_module
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
from omegaconf import OmegaConf

from lalm_framework.errors import UserError
from lalm_framework.launching.slurm.resources import (
    SlurmOptions,
    check_slurm_resources,
    is_slurm_launcher,
    never_starts,
    option_problems,
    resource_problems,
)

CPU_TRAINER = {"accelerator": "cpu", "devices": 1, "num_nodes": 1}
REQUEST = {
    "tasks_per_node": 1,
    "nodes": 1,
    "gpus_per_node": None,
    "timeout_min": 60,
    "signal_delay_s": 120,
    "cpus_per_task": 2,
    "mem_gb": 4,
    "array_parallelism": 8,
}


def _problems(request: dict[str, Any] | None = None, trainer: dict[str, Any] | None = None) -> str:
    return "\n".join(resource_problems({**REQUEST, **(request or {})}, {**CPU_TRAINER, **(trainer or {})}))


def test_a_request_that_fits_has_no_problems() -> None:
    assert _problems() == ""
    # one GPU per task of a one-device-per-process job: 1 x 4 tasks = the 4 GPUs of trainer.devices
    assert _problems({"tasks_per_node": 1, "gpus_per_task": 1}, {"accelerator": "gpu", "devices": 1}) == ""
    assert (
        _problems(
            {"tasks_per_node": 4, "gpus_per_node": 4, "nodes": 2}, {"accelerator": "gpu", "devices": 4, "num_nodes": 2}
        )
        == ""
    )


@pytest.mark.parametrize(
    "request_, trainer, expected",
    [
        ({"tasks_per_node": 1}, {"devices": 2}, "tasks_per_node=1 but trainer.devices=2"),
        ({"tasks_per_node": 2}, {"devices": [0, 1, 2]}, "Set hydra.launcher.tasks_per_node=3"),
        ({"nodes": 2}, {}, "nodes=2 but trainer.num_nodes=1"),
        ({"gpus_per_node": 1}, {}, "asks SLURM for GPUs (1) but trainer.accelerator=cpu"),
        ({"gres": "gpu:a100:2"}, {}, "asks SLURM for GPUs (gpu:a100:2)"),
        ({}, {"accelerator": "gpu"}, "asks SLURM for no GPU"),
        ({"tasks_per_node": 4, "gpus_per_node": 2}, {"accelerator": "gpu", "devices": 4}, "gpus_per_node=2 is less"),
        ({"timeout_min": 2, "signal_delay_s": 120}, {}, "signal_delay_s=120 is not below the time limit"),
        ({"timeout_min": 0}, {}, "timeout_min=0"),
        ({"cpus_per_task": 0}, {}, "cpus_per_task=0 must be at least 1"),
        (
            {"tasks_per_node": 2, "gpus_per_task": 1},
            {"accelerator": "gpu", "devices": 2},
            "gpus_per_task=1 binds each task to its own GPU(s)",
        ),
    ],
)
def test_mismatches_name_the_problem_and_the_fix(
    request_: dict[str, Any], trainer: dict[str, Any], expected: str
) -> None:
    assert expected in _problems(request_, trainer)


def test_pending_reasons_that_never_clear_are_recognised() -> None:
    assert "partition" in never_starts("PartitionConfig")
    assert never_starts("QOSMaxWallDurationPerJobLimit")
    for transient in ("Resources", "Priority", "Dependency", "ReqNodeNotAvail, UnavailableNodes:vm"):
        assert never_starts(transient) is None


def _compose(*overrides: str) -> Any:
    with initialize_config_module(config_module="lalm_framework.conf", version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=True)


def test_presets_follow_the_trainer_for_multi_node_ddp() -> None:
    cfg = _compose(
        "hydra/launcher=slurm_gpu",
        "trainer=ddp",
        "trainer.accelerator=gpu",
        "trainer.devices=4",
        "trainer.num_nodes=2",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.account=speech",
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("LalmSlurmLauncher")
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.nodes) == (4, 4, 2)
    assert (launcher.partition, launcher.account) == ("gpu", "speech")
    check_slurm_resources(cfg)  # fits: no error
    with pytest.raises(UserError, match="trainer.accelerator=cpu would not use them"):
        check_slurm_resources(_compose("hydra/launcher=slurm_gpu", "trainer=cpu"))


@pytest.mark.parametrize("preset", ["slurm_cpu", "slurm_debug"])
def test_cpu_presets_fit_the_default_trainer(preset: str) -> None:
    cfg = _compose(f"hydra/launcher={preset}")
    check_slurm_resources(cfg)
    assert OmegaConf.select(cfg, "hydra.launcher.gpus_per_node") is None
    assert any("OMP_NUM_THREADS" in line for line in cfg.hydra.launcher.setup)


def test_other_launchers_are_not_checked() -> None:
    check_slurm_resources(_compose("trainer.devices=2"))  # basic launcher: nothing to compare


class MySlurmLauncher(SlurmLauncher):
    """A user's own subclass of hydra-submitit's SLURM launcher."""


class NotSlurmLauncher:
    """Only the name looks like one."""


SlurmLookalikeLauncher = NotSlurmLauncher


@pytest.mark.parametrize(
    "launcher, expected",
    [
        ("hydra_plugins.lalm_submitit.lalm_submitit_launcher.LalmSlurmLauncher", True),
        ("hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher", True),
        ({"_target_": f"{__name__}.MySlurmLauncher"}, True),
        (MySlurmLauncher, True),
        ("hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher", False),
        ("hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", False),
        (f"{__name__}.SlurmLookalikeLauncher", False),  # a name ending in SlurmLauncher is not enough
        ("no.such.module.SlurmLauncher", False),
        ({}, False),
    ],
)
def test_slurm_launchers_are_told_by_class(launcher: Any, expected: bool) -> None:
    assert is_slurm_launcher(launcher) is expected


def test_a_default_changed_in_the_dataclass_is_what_the_launcher_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our options' defaults live in LalmSlurmQueueConf only: the presets and the launcher follow it."""
    from dataclasses import dataclass

    from hydra.core.config_store import ConfigStore
    from hydra.utils import instantiate

    from hydra_plugins.lalm_submitit.config import LalmSlurmQueueConf

    @dataclass
    class Changed(LalmSlurmQueueConf):
        poll_interval_s: float = 0.25
        summary: bool = False
        cancel_on_exit: bool = False

    store = ConfigStore.instance()
    monkeypatch.setitem(
        store.repo["hydra"]["launcher"], "lalm_slurm.yaml", store.repo["hydra"]["launcher"]["lalm_slurm.yaml"]
    )
    store.store(group="hydra/launcher", name="lalm_slurm", node=Changed, provider="test")
    launcher = instantiate(_compose("hydra/launcher=slurm_cpu").hydra.launcher)
    assert launcher.options == SlurmOptions(poll_interval_s=0.25, summary=False, cancel_on_exit=False)
    assert not set(launcher.params) & {"poll_interval_s", "summary", "cancel_on_exit"}  # not passed to sbatch


def test_option_problems_name_each_bad_value() -> None:
    problems = option_problems(
        {"nodes": 0, "tasks_per_node": 1, "max_num_timeout": -2, "poll_interval_s": 0.0, "gpus_per_task": -1}
    )
    assert problems == [
        "hydra.launcher.nodes=0 must be at least 1 (or null for the cluster default).",
        "hydra.launcher.gpus_per_task=-1 must not be negative.",
        "hydra.launcher.max_num_timeout=-2 must not be negative.",
        "hydra.launcher.poll_interval_s=0.0 must be above 0 (seconds).",
    ]
    assert option_problems({"nodes": None, "cpus_per_task": 4, "signal_delay_s": 0, "max_num_timeout": 0}) == []


def test_jobs_of_one_shape_are_checked_from_one_composition() -> None:
    """The launcher composes one job per config shape; the others are that config with their own
    values: exactly what Hydra composes for them (type errors and request checks included)."""
    from hydra.core.global_hydra import GlobalHydra

    from lalm_framework.launching.slurm.checks import JobChecker

    jobs = [
        ["lr=1e-3", "trainer.max_epochs=2", "+note=a"],
        ["lr=2e-3", "trainer.max_epochs=3", "+note=b"],
        ["lr=3e-3", "trainer.max_epochs=4", "+note=c"],
        ["experiment=digits", "lr=1e-2"],  # another group option: another shape
        ["experiment=digits", "lr=2e-2"],
        ["lr=1e-3", "trainer.max_epochs=2", "+note={a: 1}"],  # a dict value merges: its own shape
    ]
    with initialize_config_module(config_module="lalm_framework.conf", version_base="1.3"):
        master = compose(config_name="train", overrides=["hydra/launcher=slurm_cpu"], return_hydra_config=True)
        loader = GlobalHydra.instance().config_loader()
        request = OmegaConf.to_container(master.hydra.launcher, resolve=True)
        checker = JobChecker(master, loader, request)
        for overrides in jobs:
            fast = checker.configs.compose(overrides)
            full = loader.load_sweep_config(master, overrides)
            assert _without_hydra(fast) == _without_hydra(full), overrides
        assert checker.configs.composed == 3
        checker.check(6, ["lr=4e-3", "trainer.max_epochs=5", "+note=d"])
        with pytest.raises(UserError, match=r"Job #7 \(lr=1 trainer.max_epochs=oops \+note=e\) is invalid"):
            checker.check(7, ["lr=1", "trainer.max_epochs=oops", "+note=e"])
        with pytest.raises(UserError, match="(?s)Job #8 .*tasks_per_node=1 but trainer.devices=2"):
            checker.check(
                8, ["lr=1", "trainer.max_epochs=2", "+note=e", "trainer.devices=2"][:2] + ["trainer.devices=2"]
            )
        assert checker.configs.composed == 4  # the last job added a key: a shape of its own


def _without_hydra(cfg: Any) -> Any:
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=False)
