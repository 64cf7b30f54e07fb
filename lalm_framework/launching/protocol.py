"""What a launcher offers to sweepers that hand out jobs one at a time (asynchronous sweeps)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from hydra.core.utils import JobReturn


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
