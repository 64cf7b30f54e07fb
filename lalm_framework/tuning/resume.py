"""Continuing a study: the budget left, and trials an interrupted sweep left RUNNING.

`n_trials` is the TOTAL budget: trials that ended (COMPLETE, PRUNED, or FAIL for a reason of
their own) count; a trial left RUNNING by a killed sweep is marked FAIL (`interrupted`), does not
count, and its parameters are enqueued so it runs again.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from lalm_framework.errors import UserError

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"
RETRY_OF = "retry_of"
FAIL_REASON = "fail_reason"


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """True for trials that used up one unit of `n_trials`."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and not trial.user_attrs.get(INTERRUPTED, False)


def trials_left(study: Any, n_trials: int) -> int:
    """How many more trials this run starts to reach `n_trials` counted ones."""
    done = sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))
    return max(0, n_trials - done)


def recover_interrupted(study: Any, storage: Any) -> list[int]:
    """Mark RUNNING trials FAIL (interrupted) and enqueue their params; returns their numbers.

    Only call this while holding the study's `SweepLock`: then no other sweeper runs them.
    """
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in stale:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, INTERRUPTED, True)
        storage.set_trial_user_attr(trial_id, FAIL_REASON, "interrupted: the sweep ended while it ran")
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(dict(trial.params), user_attrs={RETRY_OF: trial.number})
    if stale:
        log.warning(
            "Trials %s were left running by an interrupted sweep: marked failed, retrying them.",
            [t.number for t in stale],
        )
    return [t.number for t in stale]


def lock_path(storage_file: Path | None, sweep_dir: str | Path, study_name: str) -> Path:
    """Lock beside the storage file (SQLite / journal), else in the sweep dir; one per study."""
    where = storage_file.parent if storage_file is not None else Path(sweep_dir)
    return where / f".lalm_optuna.{study_name}.lock"


class SweepLock:
    """An exclusive lock file: one sweeper per study at a time.

    The OS drops it when the process dies (even by SIGKILL), so a rerun after a crash proceeds.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> SweepLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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
