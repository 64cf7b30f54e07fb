"""One `Run` per `run.json`: the fields `lalm-runs` shows, read from a job's record."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lalm_framework.run_record import RECORD_NAME

# where `lalm-train` puts runs and sweeps under the launch dir (train_hydra.yaml)
DEFAULT_ROOTS = ("outputs", "multirun")
CURVES_NAME = "curves.png"


@dataclass
class Run:
    """A job dir's record, flattened for tables. Example: `Run.load(Path("outputs/train/.../05-40-33_5"))`."""

    job_dir: Path
    record: dict[str, Any] = field(repr=False)

    @classmethod
    def load(cls, job_dir: Path) -> Run | None:
        """The run of `job_dir`, None where its run.json is missing or unreadable (a run being written)."""
        try:
            data = json.loads((job_dir / RECORD_NAME).read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        return cls(job_dir, data) if isinstance(data, dict) else None

    @property
    def config(self) -> dict[str, Any]:
        config = self.record.get("config")
        return config if isinstance(config, dict) else {}

    @property
    def attempts(self) -> list[dict[str, Any]]:
        return [a for a in self.record.get("attempts") or [] if isinstance(a, dict)]

    @property
    def task(self) -> str:
        return str(self.config.get("task_name", "?"))

    @property
    def started(self) -> str:
        """When the first attempt started (`2026-12-07T05:41:00+0000`)."""
        return str(self.attempts[0].get("started", "")) if self.attempts else ""

    @property
    def status(self) -> str:
        """How the last attempt ended: completed, failed, interrupted, killed, pruned, running."""
        return str(self.attempts[-1].get("status", "?")) if self.attempts else "?"

    @property
    def overrides(self) -> dict[str, str]:
        """The command-line overrides of the job as key -> value (`lr=3e-4` -> {"lr": "3e-4"})."""
        out = {}
        for item in self.record.get("overrides") or []:
            key, _, value = str(item).partition("=")
            out[key] = value
        return out

    @property
    def monitor(self) -> str:
        return str(self.config.get("monitor", "val/loss"))

    @property
    def metrics(self) -> dict[str, float]:
        """The metrics of the completed run, else those of its last attempt that recorded some."""
        metrics: dict[str, Any] = self.record.get("metrics") or next(
            (a["metrics"] for a in reversed(self.attempts) if a.get("metrics")), {}
        )
        return {str(k): float(v) for k, v in metrics.items() if isinstance(v, (int, float))}

    @property
    def best(self) -> float | None:
        """The best value of the monitored metric (what the run returned to its sweeper)."""
        objective = self.record.get("objective")
        if isinstance(objective, (int, float)):
            return float(objective)
        metrics = self.metrics
        return metrics.get(f"{self.monitor}_best", metrics.get(self.monitor))

    @property
    def epochs(self) -> list[dict[str, float]]:
        """Per-epoch metrics over all attempts; a resumed attempt's epoch replaces an earlier one."""
        by_epoch: dict[int, dict[str, float]] = {}
        for attempt in self.attempts:
            for row in attempt.get("epochs") or []:
                if isinstance(row, dict) and isinstance(row.get("epoch"), (int, float)):
                    by_epoch[int(row["epoch"])] = {str(k): float(v) for k, v in row.items() if _is_number(v)}
        return [by_epoch[e] for e in sorted(by_epoch)]

    @property
    def epoch_count(self) -> int | None:
        """Epochs trained (None for a record without per-epoch metrics)."""
        epochs = self.epochs
        return int(epochs[-1]["epoch"]) + 1 if epochs else None

    def value(self, key: str) -> Any:
        """A column or a dotted config key: `status`, `best`, `epochs`, `val/wer`, `trainer.max_epochs`."""
        columns: dict[str, Any] = {
            "task": self.task,
            "time": self.started,
            "status": self.status,
            "best": self.best,
            "epochs": self.epoch_count,
            "dir": str(self.job_dir),
        }
        if key in columns:
            return columns[key]
        if key in self.metrics:
            return self.metrics[key]
        if key in self.overrides:
            return self.overrides[key]
        return dotted(self.config, key)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def dotted(node: Any, key: str) -> Any:
    """`node["trainer"]["max_epochs"]` for key `trainer.max_epochs`; None where a part is missing."""
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def run_dirs(roots: Iterable[Path]) -> Iterator[Path]:
    """Every job dir (a dir with a run.json) under `roots`, each once; a root may be a job dir itself."""
    seen: set[Path] = set()
    for root in roots:
        for record in [root / RECORD_NAME] if (root / RECORD_NAME).is_file() else sorted(root.rglob(RECORD_NAME)):
            job_dir = record.parent
            if job_dir.resolve() not in seen:
                seen.add(job_dir.resolve())
                yield job_dir


def find_runs(roots: Iterable[Path] | None = None) -> list[Run]:
    """The runs under `roots` (default: ./outputs and ./multirun), oldest first.

    Example: `[r.status for r in find_runs([Path("multirun")])]`.
    """
    if roots is None:
        roots = [Path(d) for d in DEFAULT_ROOTS if Path(d).is_dir()]
    runs = [run for job_dir in run_dirs(roots) if (run := Run.load(job_dir)) is not None]
    return sorted(runs, key=lambda r: (r.started, str(r.job_dir)))
