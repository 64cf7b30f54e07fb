"""SLURM presets and request checks, without a cluster (fast)."""

from __future__ import annotations

from typing import Any

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from lalm_framework.errors import UserError
from lalm_framework.launching.slurm_resources import check_slurm_resources, never_starts, resource_problems

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
