"""`hydra.launcher.*` of `hydra/launcher=lalm_pool`, typed and checked before any job starts.

No defaults here: they live once, in `hydra_plugins/lalm_pool/config.py` (LalmPoolLauncherConf),
and Hydra hands the plugin every field of it.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from lalm_framework.errors import UserError
from lalm_framework.utils.options import check_count, check_flag, check_names

AUTO = "auto"
# what CUDA_VISIBLE_DEVICES accepts besides an index: a GPU's or a MIG instance's UUID
UUID_PREFIXES = ("GPU-", "MIG-")
GPUS_FIX = "Use auto, null (no GPUs), or a list of device ids such as [0,1] (or 'GPU-<uuid>' names)."


@dataclass(frozen=True)
class PoolSettings:
    """The lalm_pool options, as the plugin received them (see LalmPoolLauncherConf for each meaning)."""

    n_jobs: int | None
    gpus: str | tuple[str, ...] | None  # "auto", explicit ids, or None for none
    gpus_per_job: int
    jobs_per_gpu: int
    threads_per_job: int | None
    max_retries: int
    kill_grace_s: float
    status_line: bool
    preload: tuple[str, ...]

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> PoolSettings:
        """Check the plugin's options and type them; UserError naming the option and the fix."""
        opts = {k: v for k, v in options.items() if k != "_target_"}
        check_names("lalm_pool", opts, (f.name for f in fields(cls)))
        key = "hydra.launcher.{}".format
        return cls(
            n_jobs=check_count(key("n_jobs"), opts["n_jobs"], 1, "null: one per GPU lease / core", nullable=True),
            gpus=parse_gpu_spec(opts["gpus"]),
            gpus_per_job=check_count(key("gpus_per_job"), opts["gpus_per_job"], 0, "0 hides the GPUs from jobs"),
            jobs_per_gpu=check_count(key("jobs_per_gpu"), opts["jobs_per_gpu"], 1),
            threads_per_job=check_count(
                key("threads_per_job"), opts["threads_per_job"], 1, "null: cores // jobs", nullable=True
            ),
            max_retries=check_count(key("max_retries"), opts["max_retries"], 0, "0 runs a failed job once"),
            kill_grace_s=_seconds(key("kill_grace_s"), opts["kill_grace_s"]),
            status_line=check_flag(key("status_line"), opts["status_line"]),
            preload=_modules(key("preload"), opts["preload"]),
        )


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
