"""`hydra.launcher.*` of `hydra/launcher=lalm_pool`, typed and checked before any job starts.

No defaults here: they live once, in `hydra_plugins/lalm_pool/config.py` (LalmPoolLauncherConf),
and Hydra hands the plugin every field of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lalm_framework.errors import UserError

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

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> PoolSettings:
        """Check the plugin's options and type them; UserError naming the option and the fix."""
        opts = dict(options)
        opts.pop("_target_", None)
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(opts) - known)
        if unknown:  # only when the plugin is built by hand: Hydra's schema refuses them first
            raise UserError(f"Unknown lalm_pool option(s) {unknown}; the options are {sorted(known)}.")
        missing = sorted(known - set(opts))
        if missing:
            raise UserError(f"lalm_pool option(s) {missing} have no value; set hydra.launcher.<name>=... .")
        return cls(
            n_jobs=_count("n_jobs", opts["n_jobs"], minimum=1, nullable=True, fix="or null for one per GPU/core"),
            gpus=parse_gpu_spec(opts["gpus"]),
            gpus_per_job=_count("gpus_per_job", opts["gpus_per_job"], minimum=0, fix="0 hides the GPUs from jobs"),
            jobs_per_gpu=_count("jobs_per_gpu", opts["jobs_per_gpu"], minimum=1),
            threads_per_job=_count(
                "threads_per_job", opts["threads_per_job"], minimum=1, nullable=True, fix="or null for cores // jobs"
            ),
            max_retries=_count("max_retries", opts["max_retries"], minimum=0, fix="0 runs a failed job once"),
            kill_grace_s=_seconds("kill_grace_s", opts["kill_grace_s"]),
            status_line=_flag("status_line", opts["status_line"]),
        )


def _count(name: str, value: Any, minimum: int, nullable: bool = False, fix: str = "") -> Any:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        null = " or null" if nullable else ""
        hint = f" ({fix})" if fix else ""
        raise UserError(f"hydra.launcher.{name}={value!r}: give an integer >= {minimum}{null}{hint}.")
    return value


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise UserError(f"hydra.launcher.{name}={value!r}: give a number of seconds >= 0.")
    return float(value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise UserError(f"hydra.launcher.{name}={value!r}: give true or false.")
    return value


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
