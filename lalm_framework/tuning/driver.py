"""Ask/tell between a study and a launcher: a trial becomes a job's overrides, a job's result a state."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from hydra.core.utils import JobReturn
from optuna.trial import Trial, TrialState

from lalm_framework.errors import UserError
from lalm_framework.masking import mask_data, mask_text
from lalm_framework.tuning.guard import FailureGuard
from lalm_framework.tuning.outcome import TrialOutcome, job_outcome
from lalm_framework.tuning.reporter import PRUNED_AT
from lalm_framework.tuning.resume import FAIL_REASON, INTERRUPTED, JOB_DIR, OVERRIDES
from lalm_framework.tuning.space import SearchSpace, format_override

log = logging.getLogger(__name__)

# (trial, cfg) -> optional {override key: value}; may call trial.suggest_* for conditional params
SearchSpaceHook = Callable[[Trial, Any], dict[str, Any] | None]
# overrides -> None, raising on a config that cannot be composed / validated
ConfigCheck = Callable[[list[str]], None]


class StudyDriver:
    """Creates up to `planned` trials (`new_trial`) and records their jobs' results (`finish`)."""

    def __init__(
        self,
        study: optuna.Study,
        storage: Any,
        space: SearchSpace,
        planned: int,
        guard: FailureGuard,
        identity: dict[str, Any] | None = None,
        hook: SearchSpaceHook | None = None,
        hook_cfg: Any = None,
        check: ConfigCheck | None = None,
    ) -> None:
        self.study = study
        self.storage = storage
        self.space = space
        self.planned = planned
        self.guard = guard
        self.identity = identity
        self.hook = hook
        self.hook_cfg = hook_cfg
        self.check = check
        self.asked = 0
        self.launched = 0
        self.outcomes: dict[int, TrialOutcome] = {}
        self._study_id = storage.get_study_id_from_name(study.study_name)

    @property
    def n_objectives(self) -> int:
        return len(self.study.directions)

    def new_trial(self) -> tuple[Trial, list[str]] | None:
        """The next trial and its job's overrides; None when the budget is used or the guard tripped."""
        while self.asked < self.planned and not self.guard.tripped:
            trial = self.study.ask(fixed_distributions=self.space.distributions)
            self.asked += 1
            try:
                overrides = self._overrides(trial)
                if self.check is not None:
                    self.check(overrides)
            except UserError as e:
                if self.launched == 0:  # the search space itself is wrong: stop before any job runs
                    self._set_attr(trial.number, INTERRUPTED, True)
                    self._set_attr(trial.number, FAIL_REASON, mask_text(str(e)))
                    self.study.tell(trial, state=TrialState.FAIL)
                    raise
                self._record(trial, TrialOutcome(TrialState.FAIL, reason=str(e)))
                continue
            trial.set_user_attr(OVERRIDES, mask_data(overrides))  # optuna.db is a file: no secret in it
            self.launched += 1
            return trial, overrides
        return None

    def _overrides(self, trial: Trial) -> list[str]:
        extra = (self.hook(trial, self.hook_cfg) or {}) if self.hook is not None else {}
        fixed_keys = {o.split("=", 1)[0].lstrip("+~") for o in self.space.fixed}
        clash = sorted(k for k in list(trial.params) + list(extra) if k.lstrip("+~") in fixed_keys)
        if clash:
            raise UserError(
                f"{clash} are both searched and fixed: drop the fixed override(s) or the search-space entry."
            )
        overrides = [format_override(k, v) for k, v in trial.params.items()]
        overrides += [format_override(k, v) for k, v in extra.items() if k not in trial.params]
        overrides += list(self.space.fixed)
        if self.identity is not None:
            overrides += [format_override(f"trial.{k}", v) for k, v in self.identity.items()]
            overrides.append(format_override("trial.trial_number", trial.number))
        return overrides

    def finish(self, trial: Trial, ret: JobReturn) -> TrialOutcome:
        """Tell the study how trial `trial`'s job ended (COMPLETE / PRUNED / FAIL with the reason)."""
        attrs = self.storage.get_trial(self._trial_id(trial.number)).user_attrs
        outcome = job_outcome(ret, self.n_objectives, attrs.get(PRUNED_AT))
        job_dir = _job_dir(ret)
        if job_dir:
            trial.set_user_attr(JOB_DIR, job_dir)
        self._record(trial, outcome)
        return outcome

    def _record(self, trial: Trial, outcome: TrialOutcome) -> None:
        if outcome.reason and outcome.state == TrialState.FAIL:
            trial.set_user_attr(FAIL_REASON, mask_text(outcome.reason))
        values = outcome.values if outcome.state == TrialState.COMPLETE else None
        self.study.tell(trial, values=values, state=outcome.state, skip_if_finished=True)
        self.outcomes[trial.number] = outcome
        self.guard.record(outcome.state == TrialState.FAIL, outcome.reason)
        _log_outcome(trial, outcome)

    def _trial_id(self, number: int) -> int:
        return int(self.storage.get_trial_id_from_study_id_trial_number(self._study_id, number))

    def _set_attr(self, number: int, key: str, value: Any) -> None:
        self.storage.set_trial_user_attr(self._trial_id(number), key, value)


def _job_dir(ret: JobReturn) -> str | None:
    """The job's output dir (its working dir only when Hydra chdir'ed into it)."""
    try:
        return str(ret.hydra_cfg.hydra.runtime.output_dir)  # type: ignore[union-attr]
    except Exception:
        return str(ret.working_dir) if ret.working_dir else None


def _log_outcome(trial: Trial, outcome: TrialOutcome) -> None:
    params = " ".join(f"{k}={v}" for k, v in trial.params.items())
    if outcome.state == TrialState.COMPLETE:
        shown = outcome.values[0] if outcome.values and len(outcome.values) == 1 else outcome.values
        log.info("Trial %d COMPLETE value=%s  %s", trial.number, shown, params)
    elif outcome.state == TrialState.PRUNED:
        log.info("Trial %d PRUNED (%s)  %s", trial.number, outcome.reason, params)
    else:
        log.warning("Trial %d FAIL: %s  %s", trial.number, outcome.reason, params)


def summary(outcomes: Sequence[TrialOutcome]) -> str:
    """`3 COMPLETE, 2 PRUNED, 1 FAIL` of this run's outcomes."""
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.state.name] = counts.get(o.state.name, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in counts.items()) or "no trials"
