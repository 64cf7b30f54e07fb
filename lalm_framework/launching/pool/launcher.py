"""Hydra side of `hydra/launcher=lalm_pool`: compose each job, run it in the pool, return JobReturns.

The launcher process composes every job's config (so a bad override fails before anything
starts) and works out its directory; a fresh worker process runs Hydra's `run_job` on it, the
same way the joblib launcher does, and the `JobReturn` (value or exception) comes back pickled.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cloudpickle
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from omegaconf import DictConfig, OmegaConf, open_dict

from lalm_framework.compat.private_api import custom_resolvers, install_resolver, job_return_value
from lalm_framework.errors import full_error_requested
from lalm_framework.launching.job_configs import JobConfigs
from lalm_framework.launching.pool.gpu_leases import GpuLeases, resolve_gpus
from lalm_framework.launching.pool.process_pool import PoolInterrupted, PoolJob, ProcessPool, ProcessResult
from lalm_framework.launching.pool.settings import PoolSettings
from lalm_framework.launching.pool.threads import available_cores, thread_cap_env
from lalm_framework.launching.pool.worker import PRELOAD_ENV, PREPARE_ENV, WARM_UP_ENV, redirect_output
from lalm_framework.launching.protocol import JobSource, PoolLauncherPlugin
from lalm_framework.launching.report import JobFailed, JobRow, StatusLine, error_line, summary_table
from lalm_framework.masking import guard
from lalm_framework.utils.files import atomic_write

log = logging.getLogger(__name__)

LOG_NAME = "job_output.log"
ENTRY = "lalm_framework.launching.pool.launcher:execute_job"
WARM_UP = "lalm_framework.launching.pool.launcher:warm_up"
PREPARE = "lalm_framework.launching.pool.launcher:compose_job"


class JobProcessCrashed(RuntimeError):
    """The job's process ended without a result (killed, segfault, out of memory)."""


# -- in the worker process --------------------------------------------------------------------
def execute_job(shared: dict[str, Any], job: dict[str, Any]) -> JobReturn:
    """In a fresh job process: take job `idx`'s config, log to its dir, run it; return its JobReturn.

    The config comes composed from the template (`compose_job`), or, where the template did
    not compose it, is composed here: that spreads the cost over the parallel workers (the
    sweeper has already checked that every job composes).
    """
    setup_globals()
    Singleton.set_state(shared["singleton_state"])
    _install_resolvers(shared["resolvers"])
    idx = job["idx"]
    sweep_config = job.get("prepared")
    if not isinstance(sweep_config, DictConfig):
        try:
            sweep_config = shared["hydra_context"].config_loader.load_sweep_config(
                shared["config"], list(job["overrides"])
            )
        except Exception as e:
            if full_error_requested():  # before any log dir exists: to the launcher's stderr
                traceback.print_exc()
            ret = JobReturn(overrides=list(job["overrides"]), status=JobStatus.FAILED)
            ret.return_value = _picklable(e)
            ret.status = JobStatus.FAILED
            return ret
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    # the directory run_job will use: sweep dir + subdir, resolved with this job's num
    job_dir = os.path.abspath(
        os.path.join(
            str(OmegaConf.select(sweep_config, "hydra.sweep.dir")),
            str(OmegaConf.select(sweep_config, "hydra.sweep.subdir")),
        )
    )
    log_path = os.path.join(job_dir, LOG_NAME)
    atomic_write(job["where"], log_path)
    redirect_output(log_path)
    guard(list(job["overrides"]))  # the job's log file (job_output.log), secrets masked
    ret = run_job(
        hydra_context=shared["hydra_context"],
        config=sweep_config,
        task_function=shared["task_function"],
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
    if ret.status == JobStatus.FAILED:
        exc = job_return_value(ret)
        # run_job keeps the exception silently: the job's log must show where it failed
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        ret.return_value = _picklable(exc)
    return ret


def warm_up(shared: dict[str, Any]) -> None:
    """In the template process: compose the sweep's base config once, so the config loader's
    caches (files read, YAML parsed) are already filled in every job forked from it."""
    setup_globals()
    Singleton.set_state(shared["singleton_state"])
    _install_resolvers(shared["resolvers"])
    shared["hydra_context"].config_loader.load_sweep_config(shared["config"], [])


def compose_job(shared: dict[str, Any], job: dict[str, Any]) -> DictConfig | None:
    """In the template, before job `idx`'s fork: its config, composed once per config shape.

    A job of a shape composed before costs a few `OmegaConf.update`s here instead of a full
    composition in its process (`JobConfigs`; its fork owns a copy). None once the sweep's
    shapes do not repeat: each job then composes in its own process, in parallel. An error
    propagates: the job composes itself and fails with Hydra's own message.
    """
    jobs = shared.get("job_configs")
    if jobs is None:
        jobs = shared["job_configs"] = JobConfigs(shared["config"], shared["hydra_context"].config_loader)
    if not jobs.caching:
        return None
    return jobs.compose(list(job["overrides"]))


def _picklable(exc: BaseException) -> BaseException:
    try:
        cloudpickle.loads(cloudpickle.dumps(exc))
        return exc
    except Exception:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return RuntimeError(text)


def _install_resolvers(resolvers: dict[str, bytes]) -> None:
    """Register the launcher's custom OmegaConf resolvers that this fresh process lacks."""
    for name, blob in resolvers.items():
        install_resolver(name, cloudpickle.loads(blob))


def _picklable_resolvers() -> dict[str, bytes]:
    out = {}
    for name, fn in custom_resolvers().items():
        try:
            out[name] = cloudpickle.dumps(fn)
        except Exception:  # a resolver we cannot ship; the job may not need it
            log.debug("resolver %s cannot be pickled; jobs will not have it", name)
    return out


# -- in the launcher process ------------------------------------------------------------------
class PoolSession:
    """One `launch`/`launch_stream` call: the pool, its scratch dir, the rows of the summary."""

    def __init__(
        self, launcher: PoolLauncherPlugin, expected_jobs: int | None, max_parallel: int | None = None
    ) -> None:
        assert launcher.config is not None and launcher.hydra_context is not None
        assert launcher.task_function is not None
        self.launcher = launcher
        self.config = launcher.config
        self.hydra_context = launcher.hydra_context
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        settings: PoolSettings = launcher.settings
        gpus = resolve_gpus(settings.gpus)
        self.leases = GpuLeases(gpus, settings.gpus_per_job, settings.jobs_per_gpu)
        self.sweep_dir = Path(str(self.config.hydra.sweep.dir))
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        n_jobs = settings.n_jobs or self.leases.capacity or available_cores()
        if self.leases.capacity is not None:
            n_jobs = min(n_jobs, self.leases.capacity)
        # thread caps follow the jobs that really run at once
        self.parallel = max(1, min(n_jobs, expected_jobs or n_jobs, max_parallel or n_jobs))
        threads = thread_cap_env(self.parallel, settings.threads_per_job)
        template_env = dict(
            threads, **{WARM_UP_ENV: WARM_UP, PREPARE_ENV: PREPARE, PRELOAD_ENV: json.dumps(list(settings.preload))}
        )
        self.scratch = Path(tempfile.mkdtemp(prefix="lalm_pool-"))
        shared = {
            "hydra_context": self.hydra_context,
            "task_function": launcher.task_function,
            "config": self.config,
            "singleton_state": Singleton.get_state(),
            "resolvers": _picklable_resolvers(),
        }
        shared_path = self.scratch / "shared.pkl"
        with open(shared_path, "wb") as f:
            cloudpickle.dump(shared, f)
        self.status = StatusLine(enabled=settings.status_line)
        self.pool = ProcessPool(
            n_workers=self.parallel,
            leases=self.leases,
            entry=ENTRY,
            shared_path=str(shared_path),
            work_dir=str(self.scratch),
            base_env=template_env,
            max_retries=settings.max_retries,
            kill_grace_s=settings.kill_grace_s,
            on_change=self._changed,
        )
        self.rows: dict[int, JobRow] = {}
        self.jobs: dict[int, PoolJob] = {}
        self.expected = expected_jobs
        gpu_text = (
            f", GPUs {gpus} ({self.leases.gpus_per_job} per job, up to {self.leases.jobs_per_gpu} job(s) per GPU)"
            if gpus
            else ""
        )
        log.info(
            "lalm_pool: %s parallel job(s), %s thread(s) each%s; sweep dir %s",
            self.parallel,
            threads.get("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "?")),
            gpu_text,
            self.sweep_dir,
        )

    def prepare(self, idx: int, overrides: Sequence[str]) -> PoolJob:
        """Job `idx` as the pool runs it (its config is composed in its own process)."""
        where = str(self.scratch / f"where-{idx}")
        job = PoolJob(
            idx=idx,
            overrides=list(overrides),
            where_path=where,
            payload={"idx": idx, "overrides": list(overrides), "where": where},
        )
        self.jobs[idx] = job
        log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
        return job

    def run(
        self,
        next_job: Callable[[], PoolJob | None],
        on_result: Callable[[PoolJob, JobReturn], None],
        max_in_flight: int | None = None,
    ) -> None:
        def done(job: PoolJob, result: ProcessResult) -> None:
            ret = self._job_return(job, result)
            self._record(job, ret)
            on_result(job, ret)

        try:
            self.pool.run(next_job, done, _failed, max_in_flight=max_in_flight)
        except PoolInterrupted as e:
            self.status.close()
            self._summary(interrupted=e)
            raise SystemExit(128 + e.signum) from None
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
        self.status.close()
        self._summary()

    def _job_return(self, job: PoolJob, result: ProcessResult) -> JobReturn:
        if not result.crashed:
            ret = result.value
            assert isinstance(ret, JobReturn)
            return ret
        ret = JobReturn(overrides=list(job.overrides))
        ret.return_value = JobProcessCrashed(f"job #{job.idx}: {result.error}")
        ret.status = JobStatus.FAILED
        return ret

    def _record(self, job: PoolJob, ret: JobReturn) -> None:
        ok = ret.status == JobStatus.COMPLETED
        metric = job_return_value(ret) if ok else error_line(job_return_value(ret))
        self.rows[job.idx] = JobRow(
            job.idx,
            job.overrides,
            "COMPLETED" if ok else "FAILED",
            metric,
            job.ended - job.started,
            job.log_path,
            job.attempt,
        )
        if not ok:
            log.error("job #%d failed: %s (log: %s)", job.idx, error_line(job_return_value(ret)), job.log_path)

    def failure(self, ret: JobReturn, idx: int, n_failed: int) -> JobFailed:
        """The short error that stands for failed job `idx` (its exception as the cause)."""
        row = self.rows[idx]
        tries = f" after {row.attempts} tries" if row.attempts > 1 else ""
        error = JobFailed(
            f"Job #{idx} ({' '.join(row.overrides) or 'no overrides'}) failed{tries}: {row.metric}\n"
            f"{n_failed} of {len(self.rows)} job(s) did not complete, see the summary above. Its log: {row.log_path}"
        )
        cause = job_return_value(ret)
        error.__cause__ = cause if isinstance(cause, BaseException) else None
        return error

    def _changed(self, pool: ProcessPool) -> None:
        queued = None
        if self.expected is not None:
            queued = self.expected - len(self.rows) - len(pool.running)
        self.status.update(len(pool.running), pool.done, pool.failed, queued)

    def _summary(self, interrupted: PoolInterrupted | None = None) -> None:
        rows = list(self.rows.values())
        now = time.monotonic()
        if interrupted is not None:  # jobs that had started but not ended
            for idx, job in self.jobs.items():
                if idx not in self.rows and job.started:
                    rows.append(
                        JobRow(idx, job.overrides, "INTERRUPTED", None, now - job.started, job.log_path, job.attempt)
                    )
        if rows:
            summary_table(rows)
        failed = [r for r in rows if r.status != "COMPLETED"]
        if interrupted is not None:
            log.error(
                "lalm_pool: %s received; all job processes stopped; %d job(s) had completed",
                interrupted,
                len(rows) - len(failed),
            )
        elif failed:
            log.error(
                "lalm_pool: %d of %d job(s) failed: %s",
                len(failed),
                len(rows),
                ", ".join(f"#{r.idx} ({r.log_path})" for r in failed),
            )


def _failed(result: ProcessResult) -> bool:
    return result.crashed or result.value.status != JobStatus.COMPLETED


def launch(
    launcher: PoolLauncherPlugin, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> Sequence[JobReturn]:
    """Run a batch of jobs; a job starts as soon as a worker frees. Results in input order."""
    session = PoolSession(launcher, expected_jobs=len(job_overrides))
    log.info("lalm_pool is launching %d jobs", len(job_overrides))
    pending = [(initial_job_idx + i, ov) for i, ov in enumerate(job_overrides)][::-1]
    results: dict[int, JobReturn] = {}
    session.run(
        next_job=lambda: session.prepare(*pending.pop()) if pending else None,
        on_result=lambda job, ret: results.__setitem__(job.idx, ret),
    )
    # the sweeper raises a failed job's value (Hydra's BasicSweeper does): the summary has said
    # what failed, so that value is a short error naming the job, not its traceback
    failed = [idx for idx, ret in results.items() if ret.status != JobStatus.COMPLETED]
    for idx in failed:
        results[idx].return_value = session.failure(results[idx], idx, len(failed))
    return [results[initial_job_idx + i] for i in range(len(job_overrides))]


def launch_stream(launcher: PoolLauncherPlugin, source: JobSource, initial_job_idx: int, max_in_flight: int) -> int:
    """Run jobs from `source` (e.g. Optuna's ask) until it has no more and none run; returns the count."""
    session = PoolSession(launcher, expected_jobs=None, max_parallel=max_in_flight)
    counter = [initial_job_idx]

    def next_job() -> PoolJob | None:
        overrides = source.next_job()
        if overrides is None:
            return None
        job = session.prepare(counter[0], overrides)
        counter[0] += 1
        return job

    session.run(
        next_job=next_job,
        on_result=lambda job, ret: source.job_done(job.idx, job.overrides, ret),
        max_in_flight=max_in_flight,
    )
    return counter[0] - initial_job_idx
