"""What launchers, sweepers and the plugin shims expect of each other, as Protocols.

- `JobSource`, `StreamingLauncher`, `ResumableJobSource`: what a launcher offers to sweepers
  that hand out jobs one at a time (asynchronous sweeps).
- `PoolLauncherPlugin`, `SlurmLauncherPlugin`: what `launching.pool` and `launching.slurm` read
  from the Launcher objects of `hydra_plugins/` (which import us: we never import them).
- `FitSaver`: what saves a SLURM job's running fit when submitit requeues it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from hydra.core.utils import JobReturn
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@runtime_checkable
class JobSource(Protocol):
    """A sweeper side that produces jobs on demand (e.g. Optuna's ask) and consumes results (tell)."""

    def next_job(self) -> Sequence[str] | None:
        """Overrides of the next job, or None when no job is to start now."""

    def job_done(self, job_idx: int, overrides: Sequence[str], ret: JobReturn) -> None:
        """Called in the launcher's process as soon as job `job_idx` ends."""


@runtime_checkable
class StreamingLauncher(Protocol):
    """A launcher that starts a job whenever a worker frees instead of in batches."""

    def launch_stream(self, source: JobSource, initial_job_idx: int, max_in_flight: int) -> int:
        """Run jobs from `source` until it returns None with nothing running; returns jobs run.

        `next_job` is asked again after every `job_done`, so a source may return None while
        jobs are in flight and hand out more once results come in.
        """


@runtime_checkable
class ResumableJobSource(JobSource, Protocol):
    """A source that continues an interrupted sweep: some of its jobs were launched by an earlier
    controller and may still run (SLURM jobs outlive their controller)."""

    def resumed_jobs(self) -> Sequence[tuple[int, Sequence[str]]]:
        """(job number, overrides) of jobs whose results are still due; a launcher that can follow
        them reports each through `job_done` like its own."""


class PoolLauncherPlugin(Protocol):
    """The `lalm_pool` Launcher after Hydra's `setup` (hydra_plugins/lalm_pool)."""

    # `launching.pool.settings.PoolSettings`; typed Any here because this module sits below
    # `pool/`, which imports it (an import back would be a cycle)
    settings: Any
    config: DictConfig | None
    task_function: TaskFunction | None
    hydra_context: HydraContext | None


class SlurmLauncherPlugin(Protocol):
    """The `lalm_slurm` Launcher (hydra-submitit's SlurmLauncher plus our options), hydra_plugins/lalm_submitit.

    It is also the callable each SLURM job runs (submitit pickles it).
    """

    options: Any  # `launching.slurm.resources.SlurmOptions` (Any: see PoolLauncherPlugin.settings)
    params: dict[str, Any]  # hydra-submitit's sbatch options
    config: DictConfig | None
    task_function: TaskFunction | None
    hydra_context: HydraContext | None

    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn: ...


class FitSaver(Protocol):
    """Saves the running fit before a SLURM requeue (`launching.slurm.requeue.SaveOnTermination`)."""

    def save(self, why: str) -> Path | None:
        """Write the fit's full state where the requeued job resumes from; its path, or None on other ranks."""
