"""SLURM through hydra-submitit: validated submission, honest job states, a summary, requeue hooks.

The `lalm_slurm` launcher (hydra_plugins/lalm_submitit) delegates here:

- `launch` (launcher process): check every job against the SLURM request (`checks`),
  submit ONE job array, stop with a clear error when sbatch refuses it or SLURM would keep it
  pending forever, follow the jobs until SLURM records their final state, print the summary
  table, return JobReturns (failed jobs carry a short `SlurmJobFailed`; the sweep exits != 0).
- `launch_stream` (launcher process): the same for a sweeper that hands out jobs one at a time
  (lalm_optuna): one SLURM job per trial, submitted as soon as a slot frees, up to
  `max_in_flight`; jobs an interrupted earlier controller left in SLURM are followed again.
- Ctrl-C / SIGTERM (or an error) ending either scancels the jobs still in SLURM
  (`cancel_on_exit`), after SLURM's grace period for running ones.
- `raise_if_failed` (inside the job): hydra-submitit hands a task's exception back inside a
  JobReturn, so SLURM would record COMPLETED (Hydra issue #1928); we re-raise it: FAILED. A
  pruned Optuna trial is not a failure: it ends COMPLETED, its TrialPruned goes to the sweeper.
- `requeue_nodes_in_job` (inside the job): puts the preemption mechanism into the job's config
  (a `callbacks.slurm_requeue` node and a SLURMEnvironment(auto_requeue=False) entry in
  `trainer.plugins`) for the runner to build; `save_for_requeue` saves through the fit that
  `requeue.SaveOnTermination` registered in `running_fit` (this module never imports Lightning).

Nothing heavy at module top: the launcher process never needs torch, and a SLURM job (which
imports this module for its own side) loads none of the launcher's machinery (`session`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, open_dict

from lalm_framework.compat.private_api import job_return_value
from lalm_framework.errors import UserError
from lalm_framework.launching.protocol import JobSource, ResumableJobSource, SlurmLauncherPlugin
from lalm_framework.launching.slurm import running_fit
from lalm_framework.launching.slurm.jobs import (
    SlurmJobFailed,
    TrackedJob,
    is_trial_pruned,
    ledger_folder,
    query,
    read_ledger,
)

log = logging.getLogger(__name__)

__all__ = ["SlurmJobFailed", "launch", "launch_stream", "raise_if_failed"]


# -- inside the job ---------------------------------------------------------------------------
def raise_if_failed(ret: JobReturn) -> JobReturn:
    """Re-raise the task's exception so that the SLURM job ends FAILED (and its log shows it).

    A pruned trial is a normal end: the job completes and hands TrialPruned to the sweeper."""
    if ret.status == JobStatus.FAILED and not is_trial_pruned(job_return_value(ret)):
        exc = job_return_value(ret)
        log.error("the job failed", exc_info=(type(exc), exc, exc.__traceback__))
        raise exc
    return ret


def announce_task() -> None:
    """First line of each task's log: which job, rank and node (multi-node jobs: one log per rank)."""
    env = os.environ
    array = env.get("SLURM_ARRAY_JOB_ID")
    job = f"{array}_{env.get('SLURM_ARRAY_TASK_ID')}" if array else env.get("SLURM_JOB_ID", "?")
    print(
        f"lalm_slurm: SLURM job {job}, rank {env.get('SLURM_PROCID', '0')} of "
        f"{env.get('SLURM_NTASKS', '1')} on node {env.get('SLURMD_NODENAME', '?')}",
        flush=True,
    )


# what a SLURM job's Trainer gets (see `requeue`): built by the runner from the job's config
REQUEUE_CALLBACK = {
    "_target_": "lalm_framework.launching.slurm.requeue.SaveOnTermination",
    "checkpoint_dir": "${paths.checkpoint_dir}",
}
# Lightning's own SLURM auto-requeue off: submitit's requeue is the one mechanism
SLURM_ENVIRONMENT = {"_target_": "lightning_fabric.plugins.environments.SLURMEnvironment", "auto_requeue": False}


def add_requeue_nodes(cfg: DictConfig) -> None:
    """Put the requeue callback and plugin into a job config that has `callbacks` and `trainer.plugins`.

    Other Hydra apps (no such nodes) are left as they are.
    """
    if not isinstance(cfg.get("callbacks"), DictConfig) or "plugins" not in (cfg.get("trainer") or {}):
        return
    with open_dict(cfg):
        cfg.callbacks.slurm_requeue = REQUEUE_CALLBACK
        plugins = list(cfg.trainer.plugins or [])
        if SLURM_ENVIRONMENT not in plugins:
            cfg.trainer.plugins = [*plugins, SLURM_ENVIRONMENT]


@contextlib.contextmanager
def requeue_nodes_in_job(launcher: Any) -> Iterator[None]:
    """While the launcher runs its job here: the task receives its config with `add_requeue_nodes` applied."""
    task = launcher.task_function

    def task_with_requeue(cfg: DictConfig) -> Any:
        add_requeue_nodes(cfg)
        return task(cfg)

    launcher.task_function = task_with_requeue
    try:
        yield
    finally:
        launcher.task_function = task


def save_for_requeue() -> Path | None:
    """Save the running fit before submitit requeues the job (no-op when no fit has started)."""
    return running_fit.save("warning signal")


# -- in the launcher process ------------------------------------------------------------------
def launch(
    launcher: SlurmLauncherPlugin, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> list[JobReturn]:
    """Check all jobs, submit them as one array, follow them, summarise; JobReturns in input order."""
    from lalm_framework.launching.slurm.session import SlurmSession

    session = SlurmSession(launcher)
    items = [(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
    log.info("lalm_slurm: checking %d job(s)", len(items))
    for idx, overrides in items:
        session.checker.check(idx, overrides)
    with session.stop_jobs_on_exit():
        session.submit(items)
        while session.in_flight:
            session.wait()
    log.info("lalm_slurm: all %d job(s) ended", len(items))
    session.finish()
    returns = [session.returns[idx] for idx, _ in items]
    failed = [r for r in returns if _failed(r)]
    for ret in failed:  # the sweep reports the first: say how many and where to look
        ret.return_value = SlurmJobFailed(
            f"{job_return_value(ret)}\n{len(failed)} of {len(returns)} job(s) did not complete, see the summary above."
        )
    return returns


def launch_stream(launcher: SlurmLauncherPlugin, source: JobSource, initial_job_idx: int, max_in_flight: int) -> int:
    """One SLURM job per job of `source`, submitted whenever fewer than `max_in_flight` are in
    SLURM (pending or running); results go back to the source as each job ends. Returns the
    number of jobs submitted."""
    from lalm_framework.launching.slurm.session import SlurmSession, failed_return

    session = SlurmSession(launcher)
    idx = initial_job_idx
    with session.stop_jobs_on_exit():
        if isinstance(source, ResumableJobSource):
            for job_idx, resumed in source.resumed_jobs():
                lost = session.follow(job_idx, list(resumed))
                if lost is not None:
                    source.job_done(job_idx, resumed, lost)
        while True:
            while len(session.in_flight) < max_in_flight:
                overrides = source.next_job()
                if overrides is None:
                    break
                try:
                    session.checker.check(idx, overrides)
                except UserError as e:
                    if not session.submitted:
                        raise  # the first job already does not fit: nothing will
                    source.job_done(idx, overrides, failed_return(overrides, e))
                else:
                    session.submit([(idx, list(overrides))])
                idx += 1
            if not session.in_flight:
                break
            for job, ret in session.wait():
                source.job_done(job.idx, job.overrides, ret)
    session.finish()
    return idx - initial_job_idx


def earlier_jobs(config: DictConfig) -> list[TrackedJob]:
    """The jobs earlier controllers of this sweep submitted (latest per job number), with their
    current SLURM state: what a restarted controller finds still pending, running or ended."""
    latest = {job.idx: job for job in read_ledger(ledger_folder(config))}
    jobs = list(latest.values())
    query(jobs)
    return jobs


def _failed(ret: JobReturn) -> bool:
    return ret.status != JobStatus.COMPLETED and not is_trial_pruned(job_return_value(ret))
