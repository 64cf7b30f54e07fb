"""SLURM through hydra-submitit: validated submission, honest job states, a summary, requeue hooks.

The `lalm_slurm` launcher (hydra_plugins/lalm_submitit) delegates here:

- `launch` (launcher process): check every job against the SLURM request (`slurm_checks`),
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
- `lightning_plugins` / `lightning_callbacks` / `save_for_requeue`: the preemption mechanism,
  see `slurm_requeue` (imported lazily: it imports Lightning).

Nothing heavy at module top: the launcher process never needs torch.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import DictConfig, OmegaConf

from lalm_framework.compat.private_api import job_return_value
from lalm_framework.errors import UserError
from lalm_framework.launching.protocol import JobSource, ResumableJobSource
from lalm_framework.launching.report import JobRow
from lalm_framework.launching.slurm_checks import JobChecker
from lalm_framework.launching.slurm_jobs import (
    SlurmJobFailed,
    TrackedJob,
    cancel,
    is_trial_pruned,
    job_return,
    last_error_line,
    query,
    read_ledger,
    require_client,
    submit,
)
from lalm_framework.launching.slurm_resources import never_starts, option_problems

if TYPE_CHECKING:
    from hydra_plugins.lalm_submitit.lalm_submitit_launcher import LalmSlurmLauncher

log = logging.getLogger(__name__)

__all__ = ["SlurmJobFailed", "launch", "launch_stream", "raise_if_failed"]

# seconds between looks at the jobs' result files (cheap); SLURM is asked every poll_interval_s
TICK_S = 0.1


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


def lightning_plugins() -> list[Any]:
    """Lightning plugins the runner adds to a SLURM job's Trainer (see `slurm_requeue`)."""
    from lalm_framework.launching.slurm_requeue import lightning_plugins as plugins

    return plugins()


def lightning_callbacks(checkpoint_dir: str | None = None) -> list[Any]:
    """Lightning callbacks the runner adds to a SLURM job's Trainer (see `slurm_requeue`)."""
    from lalm_framework.launching.slurm_requeue import lightning_callbacks as callbacks

    return callbacks(checkpoint_dir)


def save_for_requeue() -> Path | None:
    """Save the running fit before submitit requeues the job (no-op when no fit has started)."""
    if "lalm_framework.launching.slurm_requeue" not in sys.modules:
        return None  # Lightning never loaded in this job: no trainer to save
    from lalm_framework.launching.slurm_requeue import save_for_requeue as save

    return save()


# -- in the launcher process ------------------------------------------------------------------
def launch(
    launcher: LalmSlurmLauncher, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> list[JobReturn]:
    """Check all jobs, submit them as one array, follow them, summarise; JobReturns in input order."""
    session = SlurmSession(launcher)
    items = [(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
    log.info("lalm_slurm: checking %d job(s)", len(items))
    for idx, overrides in items:
        session.checker.check(idx, overrides)
    with session.stop_jobs_on_exit():
        session.submit(items)
        while session.in_flight:
            session.wait()
    session.finish()
    returns = [session.returns[idx] for idx, _ in items]
    failed = [r for r in returns if _failed(r)]
    for ret in failed:  # the sweep reports the first: say how many and where to look
        ret.return_value = SlurmJobFailed(
            f"{job_return_value(ret)}\n{len(failed)} of {len(returns)} job(s) did not complete, see the summary above."
        )
    return returns


def launch_stream(launcher: LalmSlurmLauncher, source: JobSource, initial_job_idx: int, max_in_flight: int) -> int:
    """One SLURM job per job of `source`, submitted whenever fewer than `max_in_flight` are in
    SLURM (pending or running); results go back to the source as each job ends. Returns the
    number of jobs submitted."""
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
                    source.job_done(idx, overrides, _failed_return(overrides, e))
                else:
                    session.submit([(idx, list(overrides))])
                idx += 1
            if not session.in_flight:
                break
            for job, ret in session.wait():
                source.job_done(job.idx, job.overrides, ret)
    session.finish()
    return idx - initial_job_idx


def ledger_folder(config: DictConfig) -> Path:
    """Where the SLURM launcher of this (primary) config keeps its ledger of submitted jobs."""
    from submitit.core.utils import JobPaths

    return Path(JobPaths.get_first_id_independent_folder(str(config.hydra.launcher.submitit_folder)))


def earlier_jobs(config: DictConfig) -> list[TrackedJob]:
    """The jobs earlier controllers of this sweep submitted (latest per job number), with their
    current SLURM state: what a restarted controller finds still pending, running or ended."""
    latest = {job.idx: job for job in read_ledger(ledger_folder(config))}
    jobs = list(latest.values())
    query(jobs)
    return jobs


def collect(job: TrackedJob) -> JobReturn:
    """The JobReturn of an ended job (see `slurm_jobs.job_return`)."""
    return job_return(job)


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM reached the sweep's controller."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SlurmSession:
    """One `launch`/`launch_stream` call: the executor, the jobs in SLURM, the rows of the summary."""

    def __init__(self, launcher: LalmSlurmLauncher) -> None:
        assert launcher.config is not None and launcher.hydra_context is not None
        self.launcher = launcher
        self.config = launcher.config
        self.options = launcher.options
        params: dict[str, Any] = dict(launcher.params)
        problems = option_problems({**params, **asdict(self.options)})
        if problems:
            head = "The SLURM launcher options are invalid; nothing was submitted."
            raise UserError(head + "\n- " + "\n- ".join(problems))
        require_client(_launcher_name(self.config))
        self.checker = JobChecker(self.config, launcher.hydra_context.config_loader, params)
        self.executor = _executor(params)
        self.tasks = int(params.get("nodes") or 1) * int(params.get("tasks_per_node") or 1)
        self.sweep_dir = Path(str(self.config.hydra.sweep.dir))
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(self.sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        self.in_flight: dict[int, TrackedJob] = {}
        self.returns: dict[int, JobReturn] = {}
        self.rows: dict[int, JobRow] = {}
        self.submitted = 0
        self._next_query = 0.0

    # -- submitting and following --------------------------------------------------------------
    def submit(self, items: list[tuple[int, list[str]]]) -> None:
        """Submit the jobs: several as one array, one as a plain job."""
        from submitit.core.utils import FailedJobError

        if len(items) > 1:
            log.info("lalm_slurm: submitting %d job(s) as one array; sweep dir %s", len(items), self.sweep_dir)
        for idx, overrides in items:
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
        args = [(ov, "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()) for idx, ov in items]
        try:
            jobs = submit(self.executor, self.launcher, items, args, self.tasks)
        except FailedJobError as e:
            lines = [ln.replace("sbatch: error:", "").strip() for ln in str(e).splitlines() if ln.strip()]
            reason = "; ".join(dict.fromkeys(lines)) or "no message"
            raise UserError(
                f"sbatch refused the job{' array' if len(items) > 1 else ''}: {reason}.\nNothing was submitted. "
                f"Fix the hydra.launcher.* request ({_request_text(self.launcher.params)}); `sinfo -s` lists "
                "partitions, `sinfo -o '%P %c %m %G %l'` their CPUs, memory, GPUs and time limits."
            ) from None
        self.submitted += len(jobs)
        for job in jobs:
            job.status.state = "PENDING"
            self.in_flight[job.idx] = job
        self._next_query = 0.0
        if len(jobs) > 1:
            log.info("lalm_slurm: array job %s", jobs[0].job_id.split("_")[0])
        else:
            log.info("lalm_slurm: job #%d is SLURM job %s", jobs[0].idx, jobs[0].job_id)

    def follow(self, idx: int, overrides: list[str]) -> JobReturn | None:
        """Follow job `idx` that an earlier controller submitted (found in the ledger); when it
        cannot be found, a FAILED JobReturn saying so."""
        known = [j for j in read_ledger(ledger_folder(self.config)) if j.idx == idx and j.overrides == overrides]
        if not known:
            return _failed_return(overrides, UserError(f"job #{idx}: no SLURM job of an earlier run found for it"))
        job = known[-1]
        log.info("lalm_slurm: following job #%d (SLURM job %s), submitted by an earlier run", idx, job.job_id)
        self.in_flight[idx] = job
        self._next_query = 0.0
        return None

    def wait(self) -> list[tuple[TrackedJob, JobReturn]]:
        """Block until at least one job in SLURM has ended; collect those that have."""
        while True:
            now = time.monotonic()
            jobs = list(self.in_flight.values())
            # a job that wrote its result ends a moment later: ask SLURM now, not at the next poll
            finishing = [j for j in jobs if not j.status.final and j.has_result()]
            if now >= self._next_query or finishing:
                query(jobs)
                self._next_query = now + self.options.poll_interval_s
                self._stop_if_never_starts(jobs)
            ended = [j for j in jobs if j.status.ended(j in finishing)]
            if ended:
                return [(j, self._collect(j)) for j in ended]
            time.sleep(TICK_S)

    def _collect(self, job: TrackedJob) -> JobReturn:
        ret = job_return(job)
        del self.in_flight[job.idx]
        self.returns[job.idx] = ret
        state = job.status.state
        value = job_return_value(ret)
        if ret.status == JobStatus.COMPLETED:
            metric: Any = value
        elif is_trial_pruned(value):
            state, metric = f"{state} (pruned)", "pruned"
        else:
            metric = last_error_line(job.log_path).strip() or None
            log.error("lalm_slurm: job #%d ended %s in SLURM; its log: %s", job.idx, state, job.log_path)
        self.rows[job.idx] = JobRow(job.idx, job.overrides, state, metric, job.status.elapsed_s, str(job.log_path))
        return ret

    def _stop_if_never_starts(self, jobs: list[TrackedJob]) -> None:
        for job in jobs:
            meaning = never_starts(job.status.reason) if job.status.state == "PENDING" else None
            if meaning:
                cancel([j.job_id for j in self.in_flight.values()])
                self.in_flight.clear()
                raise UserError(
                    f"SLURM will never start job {job.job_id}: pending with reason {job.status.reason} ({meaning}).\n"
                    f"Cancelled the sweep's jobs; nothing ran. Fix the hydra.launcher.* request "
                    f"({_request_text(self.launcher.params)}); `sinfo -o '%P %c %m %G %l'` shows what the "
                    "partitions offer."
                )

    # -- the end ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def stop_jobs_on_exit(self) -> Iterator[None]:
        """Ctrl-C / SIGTERM, or an error, ending the sweep: cancel its jobs still in SLURM
        (`cancel_on_exit`), show what ended, exit 128 + signal number on a signal."""
        previous: dict[int, Any] = {}

        def interrupt(signum: int, _frame: FrameType | None) -> None:
            raise SweepInterrupted(signum)

        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            previous.clear()

        try:
            yield
        except SweepInterrupted as e:
            restore()
            self._stop(f"{signal.Signals(e.signum).name} received")
            raise SystemExit(128 + e.signum) from None
        except BaseException:
            restore()
            self._stop("the sweep stopped with an error")
            raise
        finally:
            restore()

    def _stop(self, why: str) -> None:
        jobs = list(self.in_flight.values())
        if not jobs:
            return
        ids = [j.job_id for j in jobs]
        if self.options.cancel_on_exit:
            log.error(
                "lalm_slurm: %s: cancelling %d job(s) still in SLURM (%s); running ones get SLURM's grace period",
                why,
                len(ids),
                " ".join(ids),
            )
            left = cancel(ids)
            if left:
                log.error("lalm_slurm: SLURM still lists %s; check with `squeue -j %s`", " ".join(left), ",".join(left))
            state = "CANCELLED"
        else:
            log.error(
                "lalm_slurm: %s: %d job(s) keep running in SLURM (cancel_on_exit=false): %s; "
                "`scancel %s` stops them, rerunning an Optuna sweep follows them",
                why,
                len(ids),
                " ".join(ids),
                " ".join(ids),
            )
            state = "LEFT IN SLURM"
        for job in jobs:
            self.rows[job.idx] = JobRow(job.idx, job.overrides, state, None, job.status.elapsed_s, str(job.log_path))
        self.in_flight.clear()
        self.finish()

    def finish(self) -> None:
        """The summary table (when asked for) and one line on what did not complete."""
        rows = list(self.rows.values())
        if self.options.summary and rows:
            from lalm_framework.launching.report import summary_table

            summary_table(rows, title="lalm_slurm summary")
        bad = [r for r in rows if not str(r.status).startswith("COMPLETED")]
        if bad:
            log.error("lalm_slurm: %d of %d job(s) did not complete", len(bad), len(rows))
        self.rows.clear()


def _failed(ret: JobReturn) -> bool:
    return ret.status != JobStatus.COMPLETED and not is_trial_pruned(job_return_value(ret))


def _failed_return(overrides: Sequence[str], error: BaseException) -> JobReturn:
    ret = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
    ret.return_value = error
    return ret


def _launcher_name(config: DictConfig) -> str:
    choice = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    return str(choice.get("hydra/launcher") or "lalm_slurm")


def _executor(params: Mapping[str, Any]) -> Any:
    """The submitit executor for the launcher's sbatch options (the mapping hydra-submitit does)."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    options = dict(params)
    executor = submitit.AutoExecutor(
        cluster="slurm", folder=options.pop("submitit_folder"), slurm_max_num_timeout=options.pop("max_num_timeout")
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in options.items()})
    return executor


def _request_text(params: Mapping[str, Any]) -> str:
    keys = (
        "partition",
        "account",
        "qos",
        "nodes",
        "tasks_per_node",
        "cpus_per_task",
        "gpus_per_node",
        "mem_gb",
        "timeout_min",
        "constraint",
        "gres",
    )
    return ", ".join(f"{k}={params[k]}" for k in keys if params.get(k) is not None)
