"""Options of `hydra/launcher=lalm_pool` (set them as `hydra.launcher.<name>=...`)."""

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class LalmPoolLauncherConf:
    _target_: str = "hydra_plugins.lalm_pool.lalm_pool_launcher.LalmPoolLauncher"

    # jobs running at once; null: one per GPU lease when the pool has GPUs, else one per CPU core
    n_jobs: Optional[int] = None

    # GPU ids to lease to jobs: "auto" (CUDA_VISIBLE_DEVICES or nvidia-smi), a list like [0, 1],
    # or null for a CPU-only pool
    gpus: Any = "auto"

    # GPUs each job sees through CUDA_VISIBLE_DEVICES (0: hide all GPUs from the jobs)
    gpus_per_job: int = 1

    # jobs that may share one GPU at the same time
    jobs_per_gpu: int = 1

    # OMP/MKL/OpenBLAS threads per job; null: CPU cores // parallel jobs (a value you set in the
    # environment is kept)
    threads_per_job: Optional[int] = None

    # times a failed job is re-run (in a fresh process, same job dir: it resumes from last.ckpt)
    max_retries: int = 0

    # seconds between SIGTERM and SIGKILL when the launcher is interrupted
    kill_grace_s: float = 10.0

    # print the live "running / done / failed" line
    status_line: bool = True

    # modules imported once in the template process that forks every job, so that no job imports
    # them again: what every lalm-train job imports (import only: neither initialises CUDA nor
    # starts threads on import); [] for apps that need neither
    preload: list[str] = field(default_factory=lambda: ["torch", "pytorch_lightning"])


ConfigStore.instance().store(
    group="hydra/launcher", name="lalm_pool", node=LalmPoolLauncherConf, provider="lalm-framework"
)
