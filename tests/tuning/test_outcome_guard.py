"""Job result -> trial state (NaN/inf/None are FAIL with the reason; TrialPruned is PRUNED), failure guard."""

import math

import optuna
import pytest
from hydra.core.utils import JobReturn, JobStatus
from optuna.trial import TrialState

from lalm_framework.launching.report import JobFailed
from lalm_framework.tuning.guard import FailureGuard
from lalm_framework.tuning.outcome import job_outcome


def _ret(value=None, exc=None):
    ret = JobReturn()
    ret.status = JobStatus.FAILED if exc else JobStatus.COMPLETED
    ret.return_value = exc if exc else value
    return ret


@pytest.mark.parametrize(
    "value, state, reason",
    [
        (0.25, TrialState.COMPLETE, None),
        (math.nan, TrialState.FAIL, "nan"),
        (math.inf, TrialState.FAIL, "inf"),
        (None, TrialState.FAIL, "returned None"),
        ("abc", TrialState.FAIL, "not a number"),
    ],
)
def test_single_objective(value, state, reason):
    out = job_outcome(_ret(value), 1)
    assert out.state == state
    assert (reason is None and out.reason is None) or reason in out.reason


def test_multi_objective_needs_one_value_per_direction():
    assert job_outcome(_ret((1.0, 2.0)), 2).values == [1.0, 2.0]
    assert "expected 2" in job_outcome(_ret((1.0,)), 2).reason


def test_exceptions():
    assert job_outcome(_ret(exc=optuna.TrialPruned("pruned at step 2")), 1).state == TrialState.PRUNED
    # identity by type: a look-alike class of the same name is no pruning; a wrapped TrialPruned is
    look_alike = type("TrialPruned", (Exception,), {})("pruned?")
    assert job_outcome(_ret(exc=look_alike), 1).state == TrialState.FAIL
    wrapped = JobFailed("Job #0 failed: TrialPruned: pruned at step 1")
    wrapped.__cause__ = optuna.TrialPruned("pruned at step 1")
    out = job_outcome(_ret(exc=wrapped), 1)
    assert out.state == TrialState.PRUNED and out.reason == "pruned at step 1"
    crashed = JobFailed("Job #0 failed: ...")
    crashed.__cause__ = MemoryError("out of memory")
    assert job_outcome(_ret(exc=crashed), 1).reason == "MemoryError: out of memory"  # the job's own error
    failed = job_outcome(_ret(exc=RuntimeError("CUDA out of memory")), 1)
    assert failed.state == TrialState.FAIL and "CUDA out of memory" in failed.reason
    # the pruning callback's mark wins when a task swallowed TrialPruned and returned a value, or
    # when a launcher re-wrapped the exception
    assert job_outcome(_ret(0.3), 1, pruned_at=2).state == TrialState.PRUNED
    assert job_outcome(_ret(exc=RuntimeError("job failed: TrialPruned")), 1, pruned_at=0).state == TrialState.PRUNED


def test_guard_trips_as_soon_as_the_run_cannot_stay_under_the_rate():
    guard = FailureGuard(0.25, planned=8)
    for _ in range(2):
        guard.record(True, "boom")
    assert not guard.tripped  # 2 of 8 planned = 0.25: allowed
    guard.record(True, "boom")
    assert guard.tripped and "3 of 3" in guard.message() and "max_failure_rate" in guard.message()
