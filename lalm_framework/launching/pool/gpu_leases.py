"""GPU leases: which device ids each running job may use (through CUDA_VISIBLE_DEVICES)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from lalm_framework.errors import UserError
from lalm_framework.launching.pool.settings import AUTO


def detect_gpus(environ: dict[str, str] | None = None) -> list[str]:
    """Visible GPU ids: CUDA_VISIBLE_DEVICES if set, else `nvidia-smi`'s list, else none.

    Asks nvidia-smi rather than torch so the launcher never initialises CUDA itself.
    """
    environ = dict(os.environ) if environ is None else environ
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def resolve_gpus(gpus: str | Sequence[str] | None) -> list[str]:
    """The pool's device ids from a checked `gpus` option (`settings.parse_gpu_spec`)."""
    if gpus is None:
        return []
    if gpus == AUTO:
        return detect_gpus()
    return list(gpus)


class GpuLeases:
    """Hands out `gpus_per_job` ids per job, each id shared by at most `jobs_per_gpu` jobs."""

    def __init__(self, gpus: Sequence[str], gpus_per_job: int, jobs_per_gpu: int) -> None:
        if gpus and gpus_per_job > len(gpus):
            raise UserError(
                f"hydra.launcher.gpus_per_job={gpus_per_job} but the pool has only "
                f"{len(gpus)} GPU(s) {list(gpus)}.\nLower gpus_per_job or list more ids in "
                "hydra.launcher.gpus."
            )
        self.gpus = list(gpus)
        self.gpus_per_job = gpus_per_job if self.gpus else 0
        self.jobs_per_gpu = jobs_per_gpu
        self._in_use: dict[str, int] = {g: 0 for g in self.gpus}

    @property
    def capacity(self) -> int | None:
        """How many jobs can hold leases at once (None: unlimited, CPU-only jobs)."""
        if self.gpus_per_job == 0:
            return None
        return len(self.gpus) * self.jobs_per_gpu // self.gpus_per_job

    def acquire(self) -> list[str] | None:
        """Ids for one job (least used first), or None when not enough are free now."""
        if self.gpus_per_job == 0:
            return []
        free = sorted((n, i, g) for i, (g, n) in enumerate(self._in_use.items()) if n < self.jobs_per_gpu)
        if len(free) < self.gpus_per_job:
            return None
        lease = [g for _, _, g in free[: self.gpus_per_job]]
        for g in lease:
            self._in_use[g] += 1
        return lease

    def release(self, lease: Sequence[str]) -> None:
        for g in lease:
            self._in_use[g] -= 1

    def env(self, lease: Sequence[str]) -> dict[str, str]:
        """The job's CUDA_VISIBLE_DEVICES; an empty lease hides every GPU when the pool has some."""
        if not self.gpus and "CUDA_VISIBLE_DEVICES" not in os.environ:
            return {}
        return {"CUDA_VISIBLE_DEVICES": ",".join(lease)}
