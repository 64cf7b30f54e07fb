"""A job's handle on its own trial in the study storage: report a metric, ask the pruner.

Used by the Lightning pruning callback, and by any task function that is not a Lightning run.
The pruner is the one the sweeper configured (stored on the study), so every process decides alike.
"""

from __future__ import annotations

import logging
from typing import Any

from lalm_framework.errors import UserError

log = logging.getLogger(__name__)

PRUNED_AT = "pruned_at"
HALF_SET = (
    "trial.trial_number is set but trial.storage / trial.study_name are not.\n"
    "These are set together by the lalm_optuna sweeper; unset all of them."
)


class TrialReporter:
    """Trial `trial_number` of study `study_name` in the storage at `storage_url`."""

    def __init__(self, storage_url: str, study_name: str, trial_number: int) -> None:
        import optuna

        from lalm_framework.tuning.samplers import pruner_of_study
        from lalm_framework.tuning.storage import open_storage

        storage = open_storage(storage_url)
        try:
            study_id = storage.get_study_id_from_name(study_name)
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial_number)
        except KeyError as e:
            raise UserError(
                f"No trial {trial_number} of study '{study_name}' in {storage_url}.\n"
                "trial.* is set by the lalm_optuna sweeper; leave it unset for plain runs."
            ) from e
        pruner = pruner_of_study(storage.get_study_user_attrs(study_id))
        study = optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)
        self.trial = optuna.trial.Trial(study, trial_id)
        self.number = trial_number

    @classmethod
    def from_config(cls, cfg: Any) -> TrialReporter | None:
        """The reporter of a job config's `trial` node; None on plain runs."""
        trial = cfg.get("trial") if hasattr(cfg, "get") else None
        if trial is None or trial.get("trial_number") is None:
            return None
        if not trial.get("storage") or not trial.get("study_name"):
            raise UserError(HALF_SET)
        return cls(str(trial.storage), str(trial.study_name), int(trial.trial_number))

    def report(self, value: float, step: int) -> bool:
        """Record `value` at `step`; True when the pruner says to stop this trial."""
        self.trial.report(float(value), step)
        return self.trial.should_prune()

    def mark_pruned(self, step: int) -> None:
        """Leave the pruning step on the trial: the sweeper then ends it PRUNED whatever the job returns."""
        self.trial.set_user_attr(PRUNED_AT, step)
