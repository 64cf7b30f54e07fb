"""How a finished job becomes an Optuna trial state: COMPLETE, PRUNED or FAIL (with the reason)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from optuna.trial import TrialState

from lalm_framework.compat.private_api import job_return_value


@dataclass
class Outcome:
    state: TrialState
    values: list[float] | None = None
    reason: str | None = None


def is_pruned_exception(exc: BaseException) -> bool:
    """`optuna.TrialPruned`, also when a launcher pickled it across processes."""
    import optuna

    return isinstance(exc, optuna.TrialPruned) or type(exc).__name__ == "TrialPruned"


def job_outcome(ret: JobReturn, n_objectives: int, pruned_at: int | None = None) -> Outcome:
    """The trial outcome of job result `ret`; `pruned_at` = step the job's pruning callback stopped at."""
    exc = job_return_value(ret) if ret.status == JobStatus.FAILED else None
    if isinstance(exc, BaseException) and is_pruned_exception(exc):
        return Outcome(TrialState.PRUNED, reason=str(exc) or "pruned")
    if pruned_at is not None:
        # the job's pruning callback recorded the decision: whether the task then raised (some
        # launchers re-wrap exceptions, e.g. SLURM's) or swallowed TrialPruned and returned
        return Outcome(TrialState.PRUNED, reason=f"pruned at step {pruned_at}")
    if ret.status == JobStatus.FAILED:
        return Outcome(TrialState.FAIL, reason=f"{type(exc).__name__}: {exc}")
    return value_outcome(job_return_value(ret), n_objectives)


def value_outcome(value: Any, n_objectives: int) -> Outcome:
    """COMPLETE with the objective value(s), or FAIL saying what is wrong with `value`."""
    if value is None:
        return Outcome(
            TrialState.FAIL,
            reason="the task returned None instead of the objective value "
            "(lalm-train returns the `monitor` metric: is it logged?)",
        )
    raw = list(value) if n_objectives > 1 and isinstance(value, (list, tuple)) else [value]
    if len(raw) != n_objectives:
        return Outcome(TrialState.FAIL, reason=f"expected {n_objectives} objective values, got {value!r}")
    try:
        values = [float(v) for v in raw]
    except (TypeError, ValueError):
        return Outcome(TrialState.FAIL, reason=f"the objective value is not a number: {value!r}")
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        return Outcome(TrialState.FAIL, values=values, reason=f"the objective value is {bad[0]}")
    return Outcome(TrialState.COMPLETE, values=values)
