"""CPU thread caps for jobs that run side by side on one machine."""

from __future__ import annotations

import os
from collections.abc import Mapping

# Variables the common BLAS/OpenMP runtimes (and torch, through OpenMP) read at start-up.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_cap_env(
    parallel_jobs: int, threads_per_job: int | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Thread variables for each job: `threads_per_job`, else cores // parallel jobs (at least 1).

    A variable the user already set in `environ` is kept as it is.
    """
    environ = os.environ if environ is None else environ
    threads = threads_per_job or max(1, available_cores() // max(1, parallel_jobs))
    return {var: str(threads) for var in THREAD_VARS if var not in environ}
