"""`hydra.launcher.*` of `hydra/launcher=lalm_pool`: declared once, typed and checked before any job starts.

`LalmPoolLauncherConf` is the one declaration of each option: its type, its default, and its
check (the field's metadata). `hydra_plugins/lalm_pool/config.py` stores it for Hydra, which hands
the plugin every field; `PoolSettings.from_options` checks them into an instance of it.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lalm_framework.errors import UserError
from lalm_framework.utils.options import FLAG, checked_by, count, from_options

AUTO = "auto"
# what CUDA_VISIBLE_DEVICES accepts besides an index: a GPU's or a MIG instance's UUID
UUID_PREFIXES = ("GPU-", "MIG-")
GPUS_FIX = "Use auto, null (no GPUs), or a list of device ids such as [0,1] (or 'GPU-<uuid>' names)."


def _seconds(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise UserError(f"{key}={value!r}: give a number of seconds >= 0.")
    return float(value)


def _modules(key: str, value: Any) -> tuple[str, ...]:
    """Importable module names (found, not imported: the template imports them)."""
    names = [] if value is None else [value] if isinstance(value, str) else list(value)
    for name in names:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", name):
            raise UserError(f"{key}: {name!r} is not a module name; give a list such as [torch] (or []).")
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:  # a parent package is missing
            found = False
        if not found:
            raise UserError(f"{key}: no module named '{name}' here; install it, or drop it from the list.")
    return tuple(names)


@dataclass
class LalmPoolLauncherConf:
    """The lalm_pool options (set them as `hydra.launcher.<name>=...`)."""

    _target_: str = "hydra_plugins.lalm_pool.lalm_pool_launcher.LalmPoolLauncher"

    # jobs running at once; null: one per GPU lease when the pool has GPUs, else one per CPU core
    n_jobs: int | None = field(default=None, metadata=count(1, "null: one per GPU lease / core", nullable=True))

    # GPU ids to lease to jobs: "auto" (CUDA_VISIBLE_DEVICES or nvidia-smi), a list like [0, 1],
    # or null for a CPU-only pool (checked: "auto", a tuple of ids, or None)
    gpus: Any = field(default="auto", metadata=checked_by(lambda _key, value: parse_gpu_spec(value)))

    # GPUs each job sees through CUDA_VISIBLE_DEVICES (0: hide all GPUs from the jobs)
    gpus_per_job: int = field(default=1, metadata=count(0, "0 hides the GPUs from jobs"))

    # jobs that may share one GPU at the same time
    jobs_per_gpu: int = field(default=1, metadata=count(1))

    # OMP/MKL/OpenBLAS threads per job; null: CPU cores // parallel jobs (a value you set in the
    # environment is kept)
    threads_per_job: int | None = field(default=None, metadata=count(1, "null: cores // jobs", nullable=True))

    # times a failed job is re-run (in a fresh process, same job dir: it resumes from last.ckpt)
    max_retries: int = field(default=0, metadata=count(0, "0 runs a failed job once"))

    # seconds between SIGTERM and SIGKILL when the launcher is interrupted
    kill_grace_s: float = field(default=10.0, metadata=checked_by(_seconds))

    # print the live "running / done / failed" line
    status_line: bool = field(default=True, metadata=FLAG)

    # modules imported once in the template process that forks every job, so that no job imports
    # them again: what every lalm-train job imports (import only: neither initialises CUDA nor
    # starts threads on import); [] for apps that need neither (checked: a tuple of names)
    preload: list[str] = field(default_factory=lambda: ["torch", "pytorch_lightning"], metadata=checked_by(_modules))

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> LalmPoolLauncherConf:
        """Check the plugin's options; UserError naming the option and the fix."""
        return from_options(cls, options, "hydra.launcher", "lalm_pool")


# what the launcher works with: the options, checked (`LalmPoolLauncherConf.from_options`)
PoolSettings = LalmPoolLauncherConf


def parse_gpu_spec(spec: Any) -> str | tuple[str, ...] | None:
    """`auto`, None, or the ids of a list / comma-separated string; UserError for anything else."""
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec.strip().lower() == AUTO:
            return AUTO
        items: Sequence[Any] = [g for g in spec.split(",") if g.strip()]
    elif isinstance(spec, int) and not isinstance(spec, bool):
        items = [spec]
    elif isinstance(spec, Sequence):  # a list, or OmegaConf's ListConfig
        items = list(spec)
    else:
        raise UserError(f"hydra.launcher.gpus={spec!r} is not a GPU list. {GPUS_FIX}")
    ids = tuple(_gpu_id(g, spec) for g in items)
    twice = sorted({g for g in ids if ids.count(g) > 1})
    if twice:
        raise UserError(
            f"hydra.launcher.gpus lists {twice} more than once; list each GPU once and set "
            "hydra.launcher.jobs_per_gpu to share a GPU between jobs."
        )
    return ids


def _gpu_id(item: Any, spec: Any) -> str:
    if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
        return str(item)
    text = str(item).strip() if isinstance(item, str) else ""
    if text.isdigit() or text.startswith(UUID_PREFIXES):
        return text
    raise UserError(f"hydra.launcher.gpus={spec!r}: {item!r} is not a GPU id. {GPUS_FIX}")
