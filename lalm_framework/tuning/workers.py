"""Worker mode (`hydra.sweeper.workers=N`): N long-lived launcher jobs share one study.

    lalm-train -m hparams_search=lalm_lr hydra/launcher=lalm_pool hydra.sweeper.workers=2
    lalm-train -m hparams_search=lalm_lr hydra/launcher=lalm_slurm_gpu hydra.sweeper.workers=8

Optuna's own distributed pattern (many processes on one storage). The controller launches N
worker jobs through the launcher: lalm_pool processes, or one SLURM job each, whose allocation is
held for the whole sweep so that trials never wait in the queue again. Each worker, in a loop:

1. under the study's ask lock: settles the trials whose worker went silent for `grace_period`
   (killed: SIGKILL, scancel, time limit): recorded from their run.json when their job had ended,
   else FAIL (`interrupted`) and re-enqueued, so another worker runs them again; then, while
   counted + running trials leave room in `n_trials`, asks the study for the next trial (counting
   and asking under one lock: no two workers overshoot the budget);
2. runs the trial in a fresh process with the lalm_pool machinery (inside its allocation under
   SLURM): its own job dir (job number = trial number, moved past existing dirs), run.json,
   pruning callback, exactly as one job per trial;
3. tells the result (`StudyDriver.finish`), and beats the trial's heartbeat meanwhile.

A worker waits while the remaining budget is held by other workers' running trials (one of
them may die and its trial come back), and ends once `n_trials` trials count. The heartbeat is a
trial user attribute: Optuna's own (`heartbeat_interval` of RDBStorage) exists for databases
only, and journal files on a shared filesystem are the default under SLURM.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig
from optuna.trial import FrozenTrial, Trial, TrialState

from lalm_framework.compat.private_api import job_return_value
from lalm_framework.errors import UserError
from lalm_framework.launching.report import error_line
from lalm_framework.tuning.driver import ConfigCheck, SearchSpaceHook, StudyDriver
from lalm_framework.tuning.guard import FailureGuard
from lalm_framework.tuning.resume import INTERRUPTED, SweepLock, counts_toward_budget, settle_orphans
from lalm_framework.tuning.samplers import build_sampler
from lalm_framework.tuning.settings import SweepSettings
from lalm_framework.tuning.space import SearchSpace
from lalm_framework.tuning.storage import open_storage, storage_path

if TYPE_CHECKING:
    from lalm_framework.launching.pool.process_pool import PoolJob

log = logging.getLogger(__name__)

# trial user attributes of worker mode: who runs the trial (host:pid; its SLURM job under SLURM),
# and its last sign of life
WORKER = "worker"
WORKER_SLURM_JOB = "worker_slurm_job"
HEARTBEAT = "heartbeat"
# worker jobs keep their own dirs apart from the trials' numbered ones
DONE, WAIT = "done", "wait"  # what a worker's look at the study can end in besides a trial
WORKER_SUBDIR_OVERRIDE = "hydra.sweep.subdir='workers/${hydra.job.num}'"


class OptunaSweep(Protocol):
    """What a worker uses of the sweep it belongs to (`sweep.OptunaSweep`, which imports us)."""

    settings: SweepSettings
    config: DictConfig
    hydra_context: HydraContext
    task_function: TaskFunction

    def _hook(self) -> SearchSpaceHook | None: ...

    def _config_check(self) -> ConfigCheck: ...


@dataclass(frozen=True)
class WorkerPlan:
    """What every worker of one sweep run needs besides the sweep itself."""

    url: str
    study_name: str
    n_trials: int
    space: SearchSpace
    identity: dict[str, Any] | None
    job_offset: int  # job number of a trial = its number + this (past the job dirs already there)
    sweep_dir: str


def ask_lock_path(url: str, sweep_dir: str | Path, study_name: str) -> Path:
    """The lock the workers of a study ask under: beside the storage file, else in the sweep dir."""
    where = storage_path(url)
    return (where.parent if where is not None else Path(sweep_dir)) / f".lalm_optuna.{study_name}.ask.lock"


def check_worker_mode(settings: SweepSettings, launcher: Any) -> None:
    """UserError unless the launcher can host workers (lalm_pool, the SLURM presets) and the
    heartbeat's grace period outlasts a few beats."""
    from lalm_framework.launching.slurm.resources import is_slurm_launcher

    n_workers = settings.workers
    if not n_workers:
        return
    if settings.grace_period < 2 * settings.heartbeat_interval:
        raise UserError(
            f"hydra.sweeper.grace_period={settings.grace_period:g} is under two heartbeats "
            f"(heartbeat_interval={settings.heartbeat_interval:g}): a live worker's trial would be retried.\n"
            "Give a grace_period of several heartbeat intervals (default 60 s for 10 s)."
        )
    if not (_is_pool(launcher) or is_slurm_launcher(launcher)):
        raise UserError(
            f"hydra.sweeper.workers={n_workers} needs hydra/launcher=lalm_pool or a SLURM preset "
            f"(this launcher is {type(launcher).__name__}).\n"
            "Choose one of them, or set hydra.sweeper.workers=0 (one job per trial)."
        )


def launch_workers(sweep: OptunaSweep, launcher: Any, plan: WorkerPlan, n_workers: int) -> list[JobReturn]:
    """Run `n_workers` worker jobs through `launcher` (one lalm_pool process / SLURM job each) to
    their end; their JobReturns (a killed worker's is FAILED: its trial was retried by the others)."""
    task = WorkerTask(sweep, plan, _trial_pool_settings(launcher))
    original_task, original_settings = launcher.task_function, getattr(launcher, "settings", None)
    launcher.task_function = task
    if _is_pool(launcher):  # all workers at once, whatever n_jobs says (they are the parallelism)
        launcher.settings = dataclasses.replace(launcher.settings, n_jobs=n_workers)
    try:
        returns = list(launcher.launch([[WORKER_SUBDIR_OVERRIDE]] * n_workers, 0))
    finally:
        launcher.task_function = original_task
        if original_settings is not None:
            launcher.settings = original_settings
    for i, ret in enumerate(returns):
        if ret.status != JobStatus.COMPLETED:
            problem = error_line(job_return_value(ret)).splitlines()[0]
            log.warning("Worker %d ended early (%s); the others took over its trials.", i, problem)
    return returns


def _is_pool(launcher: Any) -> bool:
    from lalm_framework.launching.pool.settings import PoolSettings

    return isinstance(getattr(launcher, "settings", None), PoolSettings)


def _trial_pool_settings(launcher: Any) -> Any:
    """The lalm_pool settings a worker runs its trials with: one at a time, the launcher's own
    options under lalm_pool; under SLURM the defaults, preloading what is installed."""
    from lalm_framework.launching.pool.settings import PoolSettings

    base = launcher.settings if _is_pool(launcher) else PoolSettings()
    preload = [m for m in base.preload if _is_pool(launcher) or importlib.util.find_spec(m) is not None]
    return dataclasses.replace(base, n_jobs=1, status_line=False, preload=preload)


@dataclass
class _TrialLauncher:
    """The `launching.protocol.PoolLauncherPlugin` a worker's pool runs trials through."""

    settings: Any
    config: DictConfig | None
    task_function: TaskFunction | None
    hydra_context: HydraContext | None


class WorkerTask:
    """The task function of a worker job (it gets the worker job's config; the trials get theirs)."""

    def __init__(self, sweep: OptunaSweep, plan: WorkerPlan, pool_settings: Any) -> None:
        self.sweep = sweep
        self.plan = plan
        self.pool_settings = pool_settings

    def __call__(self, cfg: DictConfig) -> dict[str, int]:
        from hydra.core.hydra_config import HydraConfig

        return Worker(self.sweep, self.plan, int(HydraConfig.get().job.num), self.pool_settings).run()


class Worker:
    """One worker's loop: ask (under the lock), run the trial in a fresh process, tell; see module doc."""

    def __init__(self, sweep: OptunaSweep, plan: WorkerPlan, number: int, pool_settings: Any) -> None:
        import optuna

        s = sweep.settings
        self.plan = plan
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.slurm_job = _slurm_job_id()
        self.interval = s.heartbeat_interval
        self.grace = s.grace_period
        self.storage = open_storage(plan.url)
        self.study = optuna.load_study(study_name=plan.study_name, storage=self.storage)
        trials = self.study.get_trials(deepcopy=False)
        # each worker its own seed stream: seeded workers must not propose the same points
        self.study.sampler = build_sampler(s.sampler, plan.space, len(trials) + number)
        left = plan.n_trials - sum(counts_toward_budget(t) for t in trials)
        self.driver = StudyDriver(
            self.study,
            self.storage,
            plan.space,
            0,  # raised by one per ask, under the lock, once the budget has room
            FailureGuard(s.max_failure_rate, max(1, left)),
            identity=plan.identity,
            hook=sweep._hook(),
            hook_cfg=sweep.config,
            check=sweep._config_check(),
        )
        self.lock = SweepLock(ask_lock_path(plan.url, plan.sweep_dir, plan.study_name), wait=True)
        self.launcher = _TrialLauncher(pool_settings, sweep.config, sweep.task_function, sweep.hydra_context)
        self.current: Trial | None = None
        self.counts: dict[str, int] = {}
        self._stop = threading.Event()

    def run(self) -> dict[str, int]:
        """Run trials until the study has `n_trials`; returns how this worker's trials ended."""
        from lalm_framework.launching.pool.launcher import PoolSession

        session = PoolSession(self.launcher, expected_jobs=None, max_parallel=1)
        beat = threading.Thread(target=self._beat, name="lalm-optuna-heartbeat", daemon=True)
        beat.start()
        log.info("Worker %s on study '%s' (%s)", self.name, self.plan.study_name, self.plan.url)
        try:
            session.run(lambda: self._next_job(session), self._done, max_in_flight=1)
        finally:
            self._stop.set()
            if self.current is not None:  # stopped mid-trial (SIGTERM, scancel): hand it back now
                stopped = self.study.get_trials(deepcopy=False)[self.current.number]
                with self.lock:
                    settle_orphans(self.study, self.storage, Path(self.plan.sweep_dir), [stopped], "its worker stopped")
        log.info("Worker %s done: %s", self.name, self.counts or "no trials")
        return self.counts

    def _next_job(self, session: Any) -> PoolJob | None:
        while True:
            with self.lock:
                taken = self._take()
            if taken is DONE:
                return None
            if isinstance(taken, tuple):
                trial, overrides = taken
                return session.prepare(trial.number + self.plan.job_offset, overrides)  # type: ignore[no-any-return]
            time.sleep(min(1.0, self.interval))  # the budget is held by trials running elsewhere

    def _take(self) -> tuple[Trial, Sequence[str]] | str:
        """Under the lock: the next trial, DONE when the study is done, or WAIT."""
        while True:
            trials = self.study.get_trials(deepcopy=False)
            orphans = [t for t in trials if self._orphaned(t)]
            if orphans:
                why = f"no heartbeat for {self.grace:g} s: its worker was killed"
                settle_orphans(self.study, self.storage, Path(self.plan.sweep_dir), orphans, why)
                trials = self.study.get_trials(deepcopy=False)
            counted = sum(counts_toward_budget(t) for t in trials)
            running = sum(t.state == TrialState.RUNNING for t in trials)
            if counted >= self.plan.n_trials or self.driver.guard.tripped:
                return DONE
            if counted + running >= self.plan.n_trials:
                return WAIT
            self.driver.planned = self.driver.asked + 1
            made = self.driver.new_trial()
            if made is None:  # its config failed the check: recorded FAIL, it counts; ask again
                continue
            trial, overrides = made
            trial.set_user_attr(WORKER, self.name)
            if self.slurm_job:
                trial.set_user_attr(WORKER_SLURM_JOB, self.slurm_job)
            trial.set_user_attr(HEARTBEAT, time.time())
            self.current = trial
            return trial, overrides

    def _orphaned(self, trial: FrozenTrial) -> bool:
        # a RUNNING trial without a heartbeat was left by a sweep that was not in worker mode
        if trial.state != TrialState.RUNNING:
            return False
        return bool(time.time() - float(trial.user_attrs.get(HEARTBEAT, 0.0)) > self.grace)

    def _done(self, job: PoolJob, ret: JobReturn) -> None:
        trial, self.current = self.current, None
        assert trial is not None
        outcome = self.driver.finish(trial, ret)
        self.counts[outcome.state.name] = self.counts.get(outcome.state.name, 0) + 1

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            trial = self.current
            if trial is None:
                continue
            try:
                trial.set_user_attr(HEARTBEAT, time.time())
            except Exception as e:  # the trial just finished, or the storage is busy: next beat
                log.debug("heartbeat of trial %d skipped: %s", trial.number, e)


def _slurm_job_id() -> str | None:
    """`<array>_<task>` or `<job>` of the SLURM job this worker runs in (what scancel takes)."""
    env = os.environ
    if env.get("SLURM_ARRAY_JOB_ID"):
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID')}"
    return env.get("SLURM_JOB_ID")


def run_states(study: Any, first_number: int) -> list[FrozenTrial]:
    """Trials of this run (numbered from `first_number`) that ended for a reason of their own."""
    return [
        t
        for t in study.get_trials(deepcopy=False)
        if t.number >= first_number and t.state.is_finished() and not t.user_attrs.get(INTERRUPTED)
    ]
