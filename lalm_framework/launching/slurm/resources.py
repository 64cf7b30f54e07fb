"""Checks of a SLURM request against the job it runs, before anything is submitted.

Light on purpose (stdlib + omegaconf + hydra): the pre-launch validation and `--cfg`/dry-run
paths use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from lalm_framework.errors import UserError


@dataclass(frozen=True)
class SlurmOptions:
    """Our own `hydra.launcher.*` keys of `lalm_slurm` (not sbatch's), as the launcher received them.

    No defaults here: they live once, in hydra_plugins/lalm_submitit/config.py (LalmSlurmQueueConf).
    """

    poll_interval_s: float
    summary: bool
    cancel_on_exit: bool


# Pending reasons SLURM keeps forever when the cluster has no EnforcePartLimits (its default):
# the job would hang in the queue. Reason -> what it means.
NEVER_STARTS = {
    "PartitionConfig": "it asks for more CPUs, memory or GPUs per node than the partition's nodes have",
    "PartitionNodeLimit": "it asks for more nodes than the partition allows",
    "PartitionTimeLimit": "its time limit (timeout_min) is above the partition's MaxTime",
    "BadConstraints": "no node offers the requested constraint/feature combination",
    "InvalidAccount": "the account does not exist or you may not use it",
    "InvalidQOS": "the QOS does not exist or you may not use it",
}
_PER_JOB_LIMIT = re.compile(r"^(QOS|Assoc)Max\w*PerJob")


def never_starts(reason: str) -> str | None:
    """What a pending reason means when the job can never start, else None (it may still start)."""
    if reason in NEVER_STARTS:
        return NEVER_STARTS[reason]
    if _PER_JOB_LIMIT.match(reason):
        return "it exceeds a per-job limit of your QOS or association"
    return None


# hydra-submitit's SLURM launcher, the base of ours: (defining module, class name)
SLURM_LAUNCHER_BASE = ("hydra_plugins.hydra_submitit_launcher.submitit_launcher", "SlurmLauncher")


def is_slurm_launcher(launcher: Any) -> bool:
    """Whether a launcher submits to SLURM: an instance, a class, a `hydra.launcher` node or its
    `_target_` string. The class is resolved and its bases are searched for hydra-submitit's
    SlurmLauncher (ours and any user subclass have it; a class merely named like it does not).

    Not `issubclass`: Hydra's plugin scan (hydra-core 1.3) re-executes plugin modules already
    imported, so that class can exist as two objects, and a subclass may hold the other one.
    """
    cls = _launcher_class(launcher)
    return cls is not None and any((c.__module__, c.__qualname__) == SLURM_LAUNCHER_BASE for c in cls.__mro__)


def _launcher_class(launcher: Any) -> type | None:
    if isinstance(launcher, type):
        return launcher
    if isinstance(launcher, (str, Mapping, DictConfig)) or launcher is None:
        target = launcher if isinstance(launcher, str) else (launcher or {}).get("_target_")
        if not target:
            return None
        try:
            return get_class(str(target))
        except Exception:  # not importable: Hydra reports that itself when it instantiates it
            return None
    return type(launcher)


def resource_problems(launcher: Mapping[str, Any], trainer: Mapping[str, Any]) -> list[str]:
    """Mismatches between the SLURM request (`hydra.launcher` values) and the Lightning trainer.

    Each entry names the problem and the fix; an empty list means the request fits the job.
    """
    problems: list[str] = []
    tasks = launcher.get("tasks_per_node") or 1
    nodes = launcher.get("nodes") or 1
    gpus = _gpus_requested(launcher)
    devices = trainer.get("devices", 1)
    accelerator = str(trainer.get("accelerator", "auto"))
    n_devices = len(devices) if isinstance(devices, (list, tuple)) else devices
    if isinstance(n_devices, int) and n_devices > 0 and tasks != n_devices:
        problems.append(
            f"hydra.launcher.tasks_per_node={tasks} but trainer.devices={devices}: Lightning runs one "
            f"SLURM task per device. Set hydra.launcher.tasks_per_node={n_devices} (the slurm_* presets "
            "follow trainer.devices)."
        )
    num_nodes = trainer.get("num_nodes", 1)
    if isinstance(num_nodes, int) and nodes != num_nodes:
        problems.append(
            f"hydra.launcher.nodes={nodes} but trainer.num_nodes={num_nodes}: they must agree. "
            f"Set hydra.launcher.nodes={num_nodes} (the slurm_* presets follow trainer.num_nodes)."
        )
    if accelerator == "cpu" and gpus:
        problems.append(
            f"the job asks SLURM for GPUs ({gpus}) but trainer.accelerator=cpu would not use them. "
            "Use hydra/launcher=slurm_cpu, or trainer=gpu."
        )
    if accelerator in ("gpu", "cuda") and not gpus:
        problems.append(
            f"trainer.accelerator={accelerator} but the job asks SLURM for no GPU. "
            "Use hydra/launcher=slurm_gpu, or set hydra.launcher.gpus_per_node."
        )
    per_task = launcher.get("gpus_per_task")
    if per_task and isinstance(n_devices, int) and n_devices > 1 and accelerator in ("gpu", "cuda", "auto"):
        problems.append(
            f"hydra.launcher.gpus_per_task={per_task} binds each task to its own GPU(s), but Lightning picks "
            f"each rank's GPU by its local rank among the GPUs it sees, so trainer.devices={devices} cannot "
            f"work. Set hydra.launcher.gpus_per_node={n_devices} and gpus_per_task=null (as slurm_gpu does)."
        )
    if (
        isinstance(gpus, int)
        and isinstance(n_devices, int)
        and n_devices > 0
        and accelerator in ("gpu", "cuda", "auto")
        and 0 < gpus < n_devices
    ):
        problems.append(
            f"hydra.launcher.gpus_per_node={gpus} is less than trainer.devices={devices}. "
            f"Set hydra.launcher.gpus_per_node={n_devices}."
        )
    timeout_min = launcher.get("timeout_min")
    if timeout_min is not None and timeout_min < 1:
        problems.append(f"hydra.launcher.timeout_min={timeout_min}: SLURM time limits are whole minutes >= 1.")
    delay = launcher.get("signal_delay_s")
    if timeout_min and delay is not None and delay >= timeout_min * 60:
        problems.append(
            f"hydra.launcher.signal_delay_s={delay} is not below the time limit ({timeout_min} min): "
            "the warning signal would come before the job starts. Lower it, or raise timeout_min."
        )
    problems += option_problems(launcher)
    return problems


# keys whose values must be at least 1 / at least 0 / above 0 (null: SLURM's or our default)
_AT_LEAST_ONE = ("nodes", "tasks_per_node", "cpus_per_task", "mem_gb", "array_parallelism", "cpus_per_gpu")
_AT_LEAST_ZERO = ("gpus_per_node", "gpus_per_task", "max_num_timeout", "signal_delay_s")
_ABOVE_ZERO = ("poll_interval_s",)


def option_problems(launcher: Mapping[str, Any]) -> list[str]:
    """Counts and sizes of the launcher options that SLURM or the launcher cannot use."""
    problems: list[str] = []
    for key in (*_AT_LEAST_ONE, *_AT_LEAST_ZERO, *_ABOVE_ZERO):
        value = launcher.get(key)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if key in _AT_LEAST_ONE and value < 1:
            problems.append(f"hydra.launcher.{key}={value} must be at least 1 (or null for the cluster default).")
        elif key in _AT_LEAST_ZERO and value < 0:
            problems.append(f"hydra.launcher.{key}={value} must not be negative.")
        elif key in _ABOVE_ZERO and value <= 0:
            problems.append(f"hydra.launcher.{key}={value} must be above 0 (seconds).")
    return problems


def _gpus_requested(launcher: Mapping[str, Any]) -> Any:
    """GPUs per node the request asks for: an int, a gres string, or 0."""
    if launcher.get("gpus_per_node"):
        return launcher["gpus_per_node"]
    per_task = launcher.get("gpus_per_task")
    if per_task:
        tasks = launcher.get("tasks_per_node") or 1
        return per_task * tasks if isinstance(per_task, int) and isinstance(tasks, int) else per_task
    gres = str(launcher.get("gres") or "")
    extra = launcher.get("additional_parameters") or {}
    for text in (gres, str(extra.get("gres", "")), str(extra.get("gpus", ""))):
        if "gpu" in text or text.isdigit() and int(text) > 0:
            return text
    return 0


def check_slurm_resources(job_cfg: DictConfig, launcher: Mapping[str, Any] | None = None, job_label: str = "") -> None:
    """Raise UserError when the SLURM request cannot serve this job's trainer; no-op off SLURM.

    `launcher` defaults to the job's own `hydra.launcher` (nothing to check unless it submits to
    SLURM); the SLURM launcher passes the values it will really submit with.
    """
    if launcher is None:
        node = OmegaConf.select(job_cfg, "hydra.launcher")
        if node is None or not is_slurm_launcher(node):
            return
        launcher = {
            str(k): OmegaConf.select(node, str(k), default=None)
            for k in node.keys()
            if k not in ("name", "submitit_folder", "setup")
        }
    trainer = job_cfg.get("trainer")
    if trainer is None:
        return
    trainer_values = {
        k: OmegaConf.select(trainer, k, default=None) if isinstance(trainer, DictConfig) else trainer.get(k)
        for k in ("devices", "num_nodes", "accelerator")
    }
    problems = resource_problems(launcher, trainer_values)
    if problems:
        head = (
            f"{job_label}: the SLURM request does not fit the job; nothing was submitted."
            if job_label
            else "The SLURM request (hydra.launcher) does not fit the job:"
        )
        raise UserError(head + "\n- " + "\n- ".join(problems))
