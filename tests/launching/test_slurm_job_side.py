"""The SLURM job side without a cluster: what a warning signal saves, what counts as a pruned trial."""

from __future__ import annotations

from pathlib import Path

import optuna

from lalm_framework.launching.slurm import launcher, running_fit
from lalm_framework.launching.slurm.jobs import is_trial_pruned


class Saver:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def save(self, why: str) -> Path | None:
        self.calls.append(why)
        return Path("last.ckpt")


def test_warning_signal_saves_through_the_registered_fit_only_while_it_runs() -> None:
    assert launcher.save_for_requeue() is None  # no fit registered: nothing to save
    first, second = Saver(), Saver()
    running_fit.hold(first)
    try:
        assert launcher.save_for_requeue() == Path("last.ckpt")
        running_fit.hold(second)  # a later fit took over
        running_fit.release(first)  # the first one's end does not unregister the second
        assert launcher.save_for_requeue() == Path("last.ckpt")
    finally:
        running_fit.release(second)
    assert launcher.save_for_requeue() is None
    assert first.calls == ["warning signal"] and second.calls == ["warning signal"]


def test_only_optunas_trial_pruned_is_a_pruned_trial() -> None:
    assert is_trial_pruned(optuna.TrialPruned("pruned at step 3"))
    assert not is_trial_pruned(RuntimeError("boom"))
    assert not is_trial_pruned("TrialPruned")  # a return value, not an exception
    assert not is_trial_pruned(None)
