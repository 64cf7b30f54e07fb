"""Runs side by side: the config values that differ between them, and their metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lalm_framework.runs.records import Run

# recorded per job but not a choice of the user: they differ between any two runs
_NOT_SETTINGS = ("paths.", "hydra.")


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys: `{"trainer": {"max_epochs": 3}}` -> `{"trainer.max_epochs": 3}`."""
    if isinstance(node, Mapping) and node:
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node} if prefix else {}


def config_differences(runs: Sequence[Run]) -> list[tuple[str, list[Any]]]:
    """(dotted key, value per run) for every config key whose values are not all equal."""
    flat = [flatten(run.config) for run in runs]
    keys = sorted({k for f in flat for k in f if not k.startswith(_NOT_SETTINGS)})
    missing = object()
    rows = []
    for key in keys:
        values = [f.get(key, missing) for f in flat]
        if any(v != values[0] for v in values[1:]):
            rows.append((key, [None if v is missing else v for v in values]))
    return rows


def metrics_side_by_side(runs: Sequence[Run]) -> list[tuple[str, list[float | None]]]:
    """(metric, value per run) for each metric any run recorded, plus `best` (the monitored best)."""
    names = sorted({k for run in runs for k in run.metrics})
    rows: list[tuple[str, list[float | None]]] = [("best", [run.best for run in runs])]
    rows += [(name, [run.metrics.get(name) for run in runs]) for name in names]
    return rows
