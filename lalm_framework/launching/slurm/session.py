"""One call of the SLURM launcher in the sweep's controller: submit, follow, cancel, summarise.

Imported by `slurm.launch` / `slurm.launch_stream` only: a SLURM job (which imports `slurm` for
its own side) never loads it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import DictConfig, OmegaConf
from submitit.core.utils import FailedJobError

from lalm_framework.compat.hydra_submitit import slurm_executor
from lalm_framework.compat.private_api import job_return_value
from lalm_framework.errors import UserError
from lalm_framework.launching.protocol import SlurmLauncherPlugin
from lalm_framework.launching.report import JobRow, summary_table
from lalm_framework.launching.slurm.checks import JobChecker
from lalm_framework.launching.slurm.jobs import (
    FINAL_STATES,
    TrackedJob,
    cancel,
    is_trial_pruned,
    job_return,
    last_error_line,
    ledger_folder,
    query,
    read_ledger,
    require_client,
    submit,
)
from lalm_framework.launching.slurm.resources import SlurmOptions, never_starts, option_problems

log = logging.getLogger("lalm_framework.launching.slurm.launcher")  # one logger for the launcher's lines

# seconds between looks at the jobs' result files (cheap); SLURM is asked every poll_interval_s,
# and every FINISHING_POLL_S while a job that wrote its result has not ended in SLURM yet
TICK_S = 0.1
FINISHING_POLL_S = 0.15


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM reached the sweep's controller."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SlurmSession:
    """One `launch`/`launch_stream` call: the executor, the jobs in SLURM, the rows of the summary."""

    def __init__(self, launcher: SlurmLauncherPlugin) -> None:
        assert launcher.config is not None and launcher.hydra_context is not None
        self.launcher = launcher
        self.config = launcher.config
        self.options: SlurmOptions = launcher.options
        params: dict[str, Any] = dict(launcher.params)
        problems = option_problems({**params, **asdict(self.options)})
        if problems:
            head = "The SLURM launcher options are invalid; nothing was submitted."
            raise UserError(head + "\n- " + "\n- ".join(problems))
        require_client(_launcher_name(self.config))
        self.checker = JobChecker(self.config, launcher.hydra_context.config_loader, params)
        self.executor = slurm_executor(params)
        self.tasks = int(params.get("nodes") or 1) * int(params.get("tasks_per_node") or 1)
        self.sweep_dir = Path(str(self.config.hydra.sweep.dir))
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(self.sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        self.in_flight: dict[int, TrackedJob] = {}
        self.returns: dict[int, JobReturn] = {}
        self.rows: dict[int, JobRow] = {}
        self.submitted = 0
        self._state: Any = None
        self._next_query = self._last_query = 0.0

    # -- submitting and following --------------------------------------------------------------
    def submit(self, items: list[tuple[int, list[str]]]) -> None:
        """Submit the jobs: several as one array, one as a plain job."""
        if len(items) > 1:
            log.info("lalm_slurm: submitting %d job(s) as one array; sweep dir %s", len(items), self.sweep_dir)
        for idx, overrides in items:
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
        if self._state is None:  # a deep copy of Hydra's state: once per sweep, not per job
            self._state = Singleton.get_state()
        args = [(ov, "hydra.sweep.dir", idx, f"job_id_for_{idx}", self._state) for idx, ov in items]
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
        if self.options.summary and not self.submitted:
            # the summary's table library, loaded while the jobs start rather than after they end
            import rich.console
            import rich.table  # noqa: F401
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
            return failed_return(overrides, UserError(f"job #{idx}: no SLURM job of an earlier run found for it"))
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
            # only running jobs can have written a result (a stat per job and tick: cheap)
            finishing = [j for j in jobs if j.status.state not in ("PENDING", *FINAL_STATES) and j.has_result()]
            if finishing:  # it ends in a moment: ask SLURM soon, not at the next poll
                self._next_query = min(self._next_query, self._last_query + FINISHING_POLL_S)
            if now >= self._next_query:
                query(jobs)
                self._last_query = now
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
            summary_table(rows, title="lalm_slurm summary")
        bad = [r for r in rows if not str(r.status).startswith("COMPLETED")]
        if bad:
            log.error("lalm_slurm: %d of %d job(s) did not complete", len(bad), len(rows))
        self.rows.clear()


def failed_return(overrides: Sequence[str], error: BaseException) -> JobReturn:
    ret = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
    ret.return_value = error
    return ret


def _launcher_name(config: DictConfig) -> str:
    choice = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    return str(choice.get("hydra/launcher") or "lalm_slurm")


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
