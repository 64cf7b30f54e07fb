"""Asynchronous trials: a JobSource that asks Optuna whenever a streaming launcher has a free worker."""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.utils import JobReturn
from optuna.trial import Trial

from lalm_framework.tuning.driver import StudyDriver


class TrialJobSource:
    """`launching.protocol.JobSource` over a StudyDriver: `next_job` = ask, `job_done` = tell.

    Jobs are numbered by the launcher from `initial_job_idx` in the order `next_job` hands them
    out; a result is matched to its trial by that number, or by its overrides if a launcher
    numbers otherwise. `resumed`: (trial, job number, overrides) of trials whose jobs an earlier,
    interrupted run left running; a launcher that can follow them (SLURM) reports them as its own.
    """

    def __init__(
        self,
        driver: StudyDriver,
        initial_job_idx: int,
        resumed: Sequence[tuple[Trial, int, Sequence[str]]] = (),
    ) -> None:
        self.driver = driver
        self.next_idx = initial_job_idx
        self.pending: dict[int, tuple[Trial, tuple[str, ...]]] = {idx: (t, tuple(o)) for t, idx, o in resumed}
        self._resumed = [(idx, list(o)) for _, idx, o in resumed]
        self.returns: list[JobReturn] = []

    def resumed_jobs(self) -> list[tuple[int, list[str]]]:
        """`launching.protocol.ResumableJobSource`: the jobs of `resumed`."""
        return list(self._resumed)

    def next_job(self) -> Sequence[str] | None:
        made = self.driver.new_trial()
        if made is None:
            return None
        trial, overrides = made
        self.pending[self.next_idx] = (trial, tuple(overrides))
        self.next_idx += 1
        return overrides

    def job_done(self, job_idx: int, overrides: Sequence[str], ret: JobReturn) -> None:
        key = job_idx
        entry = self.pending.get(job_idx)
        if entry is None or entry[1] != tuple(overrides):
            key = next(k for k, (_, o) in self.pending.items() if o == tuple(overrides))
        trial, _ = self.pending.pop(key)
        self.returns.append(ret)
        self.driver.finish(trial, ret)

    @property
    def in_flight(self) -> int:
        return len(self.pending)
