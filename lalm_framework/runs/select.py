"""Which runs `lalm-runs` shows and in what order: `--status`, `--where key=value`, `--sort`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lalm_framework.errors import UserError
from lalm_framework.runs.records import Run


def parse_where(items: Sequence[str]) -> list[tuple[str, str]]:
    """`["lr=3e-4", "trainer.max_epochs=5"]` as (key, value) pairs; UserError for an item without `=`."""
    pairs = []
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UserError(f"--where {item}: expected key=value, e.g. --where lr=3e-4 or --where status=failed")
        pairs.append((key.strip(), value.strip()))
    return pairs


def same_value(actual: Any, wanted: str) -> bool:
    """Whether a recorded value matches a typed one: `3e-4` matches 0.0003, `true` matches True."""
    if actual is None:
        return wanted.lower() in ("null", "none", "")
    if isinstance(actual, bool):
        return wanted.lower() == str(actual).lower()
    if isinstance(actual, (int, float)):
        try:
            return float(wanted) == float(actual)
        except ValueError:
            return False
    if str(actual) == wanted:
        return True
    try:  # an override recorded as typed ("3e-4") against a number typed otherwise ("0.0003")
        return float(str(actual)) == float(wanted)
    except ValueError:
        return False


def select(runs: Sequence[Run], statuses: Sequence[str] = (), where: Sequence[tuple[str, str]] = ()) -> list[Run]:
    """The runs whose last attempt has one of `statuses` (any when empty) and every `where` value.

    Example: `select(runs, ["completed"], [("lr", "3e-4")])`.
    """
    return [
        run
        for run in runs
        if (not statuses or run.status in statuses) and all(same_value(run.value(k), v) for k, v in where)
    ]


def sort_runs(runs: Sequence[Run], key: str, reverse: bool = False) -> list[Run]:
    """`runs` by a column or config key (`time`, `best`, `lr`, ...); runs without a value go last."""

    def order(run: Run) -> tuple[int, Any]:
        value = run.value(key)
        if value is None:
            return (2, "")
        if isinstance(value, (int, float)):
            return (0, value)
        try:
            return (0, float(value))
        except (TypeError, ValueError):
            return (1, str(value))

    known = [r for r in runs if r.value(key) is not None]
    unknown = [r for r in runs if r.value(key) is None]
    return sorted(known, key=order, reverse=reverse) + unknown


def differing_overrides(runs: Sequence[Run]) -> list[str]:
    """The override keys whose value is not the same in every run (all of them for a single run)."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run.overrides if k not in keys]
    if len(runs) <= 1:
        return keys
    return [k for k in keys if len({run.overrides.get(k) for run in runs}) > 1]
