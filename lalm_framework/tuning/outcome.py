"""How a finished job becomes an Optuna trial state: COMPLETE, PRUNED or FAIL (with the reason)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from optuna.trial import TrialState

from lalm_framework.compat.private_api import job_return_value


@dataclass
class TrialOutcome:
    """The state a finished job gives its trial, its objective value(s), and why it failed or was pruned."""

    state: TrialState
    values: list[float] | None = None
    reason: str | None = None


def pruned_exception(exc: BaseException) -> BaseException | None:
    """The `optuna.TrialPruned` in `exc`'s `__cause__` chain (a launcher may re-wrap it, e.g.
    lalm_pool's JobFailed), or None."""
    import optuna

    return next((e for e in cause_chain(exc) if isinstance(e, optuna.TrialPruned)), None)


def cause_chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from, outermost first."""
    chain = [exc]
    while chain[-1].__cause__ is not None and chain[-1].__cause__ not in chain:
        chain.append(chain[-1].__cause__)
    return chain


def job_outcome(ret: JobReturn, n_objectives: int, pruned_at: int | None = None) -> TrialOutcome:
    """The trial outcome of job result `ret`; `pruned_at` = step the job's pruning callback stopped at."""
    exc = job_return_value(ret) if ret.status == JobStatus.FAILED else None
    pruned = pruned_exception(exc) if isinstance(exc, BaseException) else None
    if pruned is not None:
        return TrialOutcome(TrialState.PRUNED, reason=str(pruned) or "pruned")
    if pruned_at is not None:
        # the job's pruning callback recorded the decision: whether the task then raised (some
        # launchers re-wrap exceptions, e.g. SLURM's) or swallowed TrialPruned and returned
        return TrialOutcome(TrialState.PRUNED, reason=f"pruned at step {pruned_at}")
    if ret.status == JobStatus.FAILED:
        root = cause_chain(exc)[-1] if isinstance(exc, BaseException) else exc  # the job's own error
        return TrialOutcome(TrialState.FAIL, reason=f"{type(root).__name__}: {root}")
    return value_outcome(job_return_value(ret), n_objectives)


def value_outcome(value: Any, n_objectives: int) -> TrialOutcome:
    """COMPLETE with the objective value(s), or FAIL saying what is wrong with `value`."""
    if value is None:
        return TrialOutcome(
            TrialState.FAIL,
            reason="the task returned None instead of the objective value "
            "(lalm-train returns the `monitor` metric: is it logged?)",
        )
    raw = list(value) if n_objectives > 1 and isinstance(value, (list, tuple)) else [value]
    if len(raw) != n_objectives:
        return TrialOutcome(TrialState.FAIL, reason=f"expected {n_objectives} objective values, got {value!r}")
    try:
        values = [float(v) for v in raw]
    except (TypeError, ValueError):
        return TrialOutcome(TrialState.FAIL, reason=f"the objective value is not a number: {value!r}")
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        return TrialOutcome(TrialState.FAIL, values=values, reason=f"the objective value is {bad[0]}")
    return TrialOutcome(TrialState.COMPLETE, values=values)
