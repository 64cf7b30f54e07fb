"""Continuing a study: the budget left, and the trials an interrupted sweep left RUNNING.

`n_trials` is the TOTAL budget: trials that ended (COMPLETE, PRUNED, or FAIL for a reason of
their own) count. A trial left RUNNING by a killed sweep controller is settled by `recover`:

1. its job ended with a result: the trial is recorded from the job's own result (the SLURM job's
   result file, or `run.json` in its job dir: status, objective) and is NOT rerun;
2. its SLURM job is still pending or running (SLURM jobs outlive their controller): the trial
   stays RUNNING and the launcher follows that job to its end, like one of its own;
3. otherwise (the job died with the controller, or was cancelled): FAIL (`interrupted`), it
   does not count, and its parameters are enqueued so it runs again.
So no trial is counted twice and none is lost.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from lalm_framework.errors import UserError
from lalm_framework.masking import mask_data, mask_text

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"
RETRY_OF = "retry_of"
FAIL_REASON = "fail_reason"
# trial user attributes the driver sets: the job's overrides (at launch) and its output dir (at the end)
OVERRIDES = "overrides"
JOB_DIR = "job_dir"
# SLURM states of a job that was stopped from outside, not by its own doing: its trial is retried
STOPPED_FROM_OUTSIDE = ("CANCELLED",)


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """True for trials that used up one unit of `n_trials`."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and not trial.user_attrs.get(INTERRUPTED, False)


def trials_left(study: Any, n_trials: int) -> int:
    """How many more trials this run starts to reach `n_trials` counted ones.

    After `recover`, a trial still RUNNING is one whose job an earlier run left in SLURM: the
    launcher follows it, and it will count."""
    trials = study.get_trials(deepcopy=False)
    done = sum(counts_toward_budget(t) or t.state == TrialState.RUNNING for t in trials)
    return max(0, n_trials - int(done))


@dataclass
class Followed:
    """A trial whose SLURM job an interrupted earlier run left pending or running."""

    number: int
    trial_id: int
    job_idx: int
    overrides: list[str]


def recover(study: Any, storage: Any, config: Any, sweep_dir: Path) -> list[Followed]:
    """Settle the trials an interrupted sweep left RUNNING (see the module doc); returns those
    whose SLURM jobs are still in SLURM, for the launcher to follow.

    Only call this while holding the study's `SweepLock`: then no other sweeper runs them.
    """
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not stale:
        return []
    slurm_jobs = _slurm_jobs(config)
    records = _run_records(sweep_dir)
    followed, recorded, retried = [], [], []
    for trial in stale:
        overrides = tuple(trial.user_attrs.get(OVERRIDES) or ())
        job = slurm_jobs.get(overrides) if overrides else None
        ended = job is not None and job.status.ended(job.has_result())
        record = records.get(overrides) if overrides else None
        if job is not None and not ended and job.status.state != "UNKNOWN":  # pending or running
            followed.append(Followed(trial.number, _trial_id(study, storage, trial.number), job.idx, list(overrides)))
        elif job is not None and ended and job.status.state not in STOPPED_FROM_OUTSIDE:
            _record_slurm(study, storage, trial, job)
            recorded.append(trial.number)
        elif record is not None and _record_run(study, storage, trial, *record):
            recorded.append(trial.number)
        else:
            _retry(study, storage, trial)
            retried.append(trial.number)
    if recorded:
        log.warning("Trials %s had finished while no sweep recorded them: recorded from their jobs.", recorded)
    if followed:
        log.warning(
            "Trials %s still have their jobs in SLURM (from the interrupted sweep): following them.",
            [f.number for f in followed],
        )
    if retried:
        log.warning("Trials %s were left running by an interrupted sweep: marked failed, retrying them.", retried)
    return followed


def follow_to_end(config: Any, followed: Sequence[Followed], poll_s: float = 2.0) -> Iterator[tuple[Followed, Any]]:
    """Wait for the SLURM jobs of `followed` trials; yield each with its JobReturn as it ends.

    For sweeps that launch in batches: a streaming SLURM launcher follows them itself.
    """
    from lalm_framework.launching.slurm.jobs import job_return
    from lalm_framework.launching.slurm.launcher import earlier_jobs

    waiting = {f.job_idx: f for f in followed}
    while waiting:
        for job in earlier_jobs(config):
            if job.idx in waiting and job.status.ended(job.has_result()):
                yield waiting.pop(job.idx), job_return(job)
        if waiting:
            time.sleep(poll_s)


def settle_orphans(study: Any, storage: Any, sweep_dir: Path, orphans: Sequence[FrozenTrial], why: str) -> None:
    """Settle RUNNING trials whose runner is gone (worker mode: a worker died): recorded from
    their job's run.json when it ended, else FAIL (`interrupted`, `why`) and retried.

    Only call this while holding the study's ask lock (`workers.ask_lock`): then no trial is
    settled twice."""
    if not orphans:
        return
    records = _run_records(sweep_dir)
    recorded, retried = [], []
    for trial in orphans:
        overrides = tuple(trial.user_attrs.get(OVERRIDES) or ())
        record = records.get(overrides) if overrides else None
        if record is not None and _record_run(study, storage, trial, *record):
            recorded.append(trial.number)
        else:
            _retry(study, storage, trial, why)
            retried.append(trial.number)
    if recorded:
        log.warning("Trials %s had finished when their worker went: recorded from their jobs.", recorded)
    if retried:
        log.warning("Trials %s lost their worker (%s): marked failed, retrying them.", retried, why)


def _retry(study: Any, storage: Any, trial: FrozenTrial, why: str = "the sweep ended while it ran") -> None:
    # the retry first, once: a process killed half-way leaves the trial RUNNING, settled again later,
    # never FAIL without its retry nor retried twice
    if not any(t.user_attrs.get(RETRY_OF) == trial.number for t in study.get_trials(deepcopy=False)):
        study.enqueue_trial(dict(trial.params), user_attrs={RETRY_OF: trial.number})
    trial_id = _trial_id(study, storage, trial.number)
    storage.set_trial_user_attr(trial_id, INTERRUPTED, True)
    storage.set_trial_user_attr(trial_id, FAIL_REASON, f"interrupted: {why}")
    study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def _trial_id(study: Any, storage: Any, number: int) -> int:
    study_id = storage.get_study_id_from_name(study.study_name)
    return int(storage.get_trial_id_from_study_id_trial_number(study_id, number))


def _slurm_jobs(config: Any) -> dict[tuple[str, ...], Any]:
    """The SLURM jobs earlier runs of this sweep submitted, by their overrides (SLURM launchers only)."""
    from lalm_framework.launching.slurm.resources import is_slurm_launcher

    if config is None or not is_slurm_launcher(config.hydra.launcher):
        return {}
    from lalm_framework.launching.slurm import launcher as slurm

    # trials keep their overrides masked (OVERRIDES): match them masked
    return {tuple(mask_data(list(job.overrides))): job for job in slurm.earlier_jobs(config)}


def _run_records(sweep_dir: Path) -> dict[tuple[str, ...], tuple[Path, dict[str, Any]]]:
    """`run.json` of every job dir of the sweep, by the job's overrides (lalm-train writes them)."""
    found = {}
    for path in sorted(Path(sweep_dir).glob("*/run.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found[tuple(data.get("overrides") or ())] = (path.parent, data)
    return found


def _record_slurm(study: Any, storage: Any, trial: FrozenTrial, job: Any) -> None:
    """Record `trial` from its ended SLURM job's result (COMPLETE / PRUNED / FAIL, as the sweep would)."""
    from lalm_framework.launching.slurm.jobs import job_return
    from lalm_framework.tuning.outcome import job_outcome
    from lalm_framework.tuning.reporter import PRUNED_AT

    ret = job_return(job)
    outcome = job_outcome(ret, len(study.directions), trial.user_attrs.get(PRUNED_AT))
    _tell(study, storage, trial, outcome, _job_dir(ret))


def _record_run(study: Any, storage: Any, trial: FrozenTrial, job_dir: Path, data: dict[str, Any]) -> bool:
    """Record `trial` from its job's run.json, when its last attempt ended; False when it did not."""
    from lalm_framework.tuning.outcome import TrialOutcome, value_outcome
    from lalm_framework.tuning.reporter import PRUNED_AT

    attempt = (data.get("attempts") or [{}])[-1]
    status = attempt.get("status")
    if status == "pruned" or (status in ("completed", "failed") and trial.user_attrs.get(PRUNED_AT) is not None):
        outcome = TrialOutcome(TrialState.PRUNED, reason=f"pruned at step {trial.user_attrs.get(PRUNED_AT)}")
    elif status == "completed" and "objective" in data:
        outcome = value_outcome(data["objective"], len(study.directions))
    elif status == "failed":
        outcome = TrialOutcome(TrialState.FAIL, reason=str(attempt.get("error") or "the job failed"))
    else:
        return False  # running when its process died, interrupted, or a record without the objective
    _tell(study, storage, trial, outcome, str(job_dir))
    return True


def _tell(study: Any, storage: Any, trial: FrozenTrial, outcome: Any, job_dir: str | None) -> None:
    trial_id = _trial_id(study, storage, trial.number)
    if job_dir:
        storage.set_trial_user_attr(trial_id, JOB_DIR, job_dir)
    if outcome.state == TrialState.FAIL and outcome.reason:
        storage.set_trial_user_attr(trial_id, FAIL_REASON, mask_text(outcome.reason))
    values = outcome.values if outcome.state == TrialState.COMPLETE else None
    study.tell(trial.number, values=values, state=outcome.state, skip_if_finished=True)


def _job_dir(ret: Any) -> str | None:
    try:
        return str(ret.hydra_cfg.hydra.runtime.output_dir)
    except Exception:
        return None


def lock_path(storage_file: Path | None, sweep_dir: str | Path, study_name: str) -> Path:
    """Lock beside the storage file (SQLite / journal), else in the sweep dir; one per study."""
    where = storage_file.parent if storage_file is not None else Path(sweep_dir)
    return where / f".lalm_optuna.{study_name}.lock"


class SweepLock:
    """An exclusive lock file: one sweeper per study at a time (`wait=True`: wait for it instead).

    The OS drops it when the process dies (even by SIGKILL), so a rerun after a crash proceeds.
    """

    def __init__(self, path: Path, wait: bool = False) -> None:
        self.path = path
        self.wait = wait
        self.fd: int | None = None

    def __enter__(self) -> SweepLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if self.wait:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            return self
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            self.fd = None
            raise UserError(
                f"Another sweep of this study is running (pid {holder}, lock {self.path}).\n"
                "Wait for it to end, or give this one another hydra.sweeper.study_name "
                "or hydra.sweep.dir."
            ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
