"""CPU thread caps for jobs that run side by side on one machine."""

from __future__ import annotations

import logging
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


def job_cpu_threads(processes: int = 1, environ: Mapping[str, str] | None = None) -> int | None:
    """Torch threads for a CPU job whose user set no thread variable (None when one is set).

    One per core the job owns (SLURM's `SLURM_CPUS_PER_TASK`, else the CPU affinity), shared among
    its `processes`, less one core on machines of few cores: the data loading, logging and
    progress bar of the training process need it. Measured on a 2-vCPU machine: the tiny default
    job with 2 torch threads took 132 s, with 1 thread 34 s (OpenMP threads spin against the rest).
    """
    environ = os.environ if environ is None else environ
    if any(var in environ for var in THREAD_VARS):
        return None  # the user's (or a launcher's) choice
    slurm = environ.get("SLURM_CPUS_PER_TASK", "")
    owned = int(slurm) if slurm.isdigit() and int(slurm) > 0 else available_cores()
    per_process = max(1, owned // max(1, processes))
    return per_process - 1 if 2 <= per_process <= 4 else per_process


def set_job_cpu_threads(accelerator: object, devices: object) -> int | None:
    """Give torch `job_cpu_threads` threads when the job trains on CPU; return the count set, if any.

    Example: `set_job_cpu_threads("cpu", 1)` on a 2-vCPU machine without OMP_NUM_THREADS -> 1.
    """
    import torch

    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    threads = job_cpu_threads(devices if isinstance(devices, int) and devices > 0 else 1) if on_cpu else None
    if threads:
        torch.set_num_threads(threads)
        logging.getLogger(__name__).info("torch: %d CPU thread(s) (OMP_NUM_THREADS=N to choose)", threads)
    return threads
