"""`max_failure_rate`: stop launching once too many of this run's trials failed."""

from __future__ import annotations


class FailureGuard:
    """Trips when failures exceed `max_rate` of the trials this run plans (decided as early as known)."""

    def __init__(self, max_rate: float, planned: int) -> None:
        self.max_rate = max_rate
        self.planned = planned
        self.failed = 0
        self.finished = 0
        self.first_reason: str | None = None

    def record(self, failed: bool, reason: str | None = None) -> None:
        self.finished += 1
        if failed:
            self.failed += 1
            self.first_reason = self.first_reason or reason

    @property
    def tripped(self) -> bool:
        # failures only grow: once over the limit of the whole run, the final rate will be too
        return self.failed > self.max_rate * max(self.planned, 1)

    def message(self) -> str:
        return (
            f"Sweep stopped: {self.failed} of {self.finished} finished trials failed "
            f"(max_failure_rate={self.max_rate} of {self.planned} planned).\n"
            f"First failure: {self.first_reason}\n"
            "Fix the failing trials (see their job dirs and trials.csv), or raise "
            "hydra.sweeper.max_failure_rate."
        )
