"""Search-space grammar of `hydra.sweeper.params` and the command line, on Hydra's override parser.

The grammar users know from the Hydra Optuna sweeper:
  `a,b` / `choice(a,b)`          -> categorical
  `range(1,9)` / `range(0.1,1,step=0.1)` -> int / float with a step (stop excluded, as in Hydra)
  `interval(0,1)` / `int(interval(1,64))` -> uniform float / int
  `tag(log, interval(1e-5,1e-2))`  -> log-uniform
Anything else (`key=value`, `+key=value`, `~key`) is a fixed override passed to every trial.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from lalm_framework.errors import UserError


@dataclass
class SearchSpace:
    """Distributions keyed by override key (in the order given) plus fixed overrides."""

    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)

    def grid(self) -> list[dict[str, Any]]:
        """Every point of a discrete space, in Hydra BasicSweeper's (cartesian) order."""
        names = list(self.distributions)
        values = [grid_values(name, d) for name, d in self.distributions.items()]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def parse_search_space(params: Mapping[str, Any] | None, arguments: Sequence[str]) -> SearchSpace:
    """Parse `hydra.sweeper.params` (key -> expression) then the command-line overrides.

    A command-line override of a key in `params` replaces it (fixed value or new range).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    lines = [f"{k}={v}" for k, v in (params or {}).items()] + list(arguments)
    try:
        parsed = OverridesParser.create().parse_overrides(lines)
    except OverrideParseException as e:
        raise UserError(
            f"Cannot parse the search space: {str(e).strip().splitlines()[0]}\n"
            "Write e.g. lr='tag(log, interval(1e-5, 1e-2))' or model.lora.r='choice(4,8,16)'."
        ) from e
    space = SearchSpace()
    fixed: dict[str, str] = {}
    for override in parsed:
        key = override.get_key_element()
        name = override.key_or_group
        space.distributions.pop(_find(space.distributions, name), None)
        fixed.pop(_find(fixed, name), None)
        if override.is_sweep_override():
            space.distributions[key] = to_distribution(override)
        else:
            fixed[key] = override.input_line or f"{key}={override.get_value_element_as_str()}"
    space.fixed = list(fixed.values())
    return space


def _find(keys: Iterable[str], name: str) -> str | None:
    for key in keys:
        if key.lstrip("+~") == name:
            return key
    return None


def to_distribution(override: Any) -> BaseDistribution:
    """The Optuna distribution of one sweep override (choice / range / interval)."""
    from hydra.core.override_parser.types import IntervalSweep, RangeSweep

    key = override.get_key_element()
    value = override.value()
    if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
        choices = list(override.sweep_iterator())
        for c in choices:
            if not isinstance(c, (str, int, float, bool, type(None))):
                raise UserError(f"{key}: choices must be numbers, strings, booleans or null, got {c!r}.")
        return CategoricalDistribution(choices)
    if isinstance(value, RangeSweep):
        values = list(override.sweep_iterator())
        if not values:
            raise UserError(
                f"{key}: {override.input_line} is empty (range stops before it starts; the stop "
                "value is excluded, as in Hydra)."
            )
        if all(isinstance(v, int) for v in values) and isinstance(value.step, int):
            return IntDistribution(values[0], values[-1], step=value.step)
        return FloatDistribution(float(values[0]), float(values[-1]), step=float(value.step))
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        unknown = set(value.tags) - {"log"}
        if unknown:
            raise UserError(f"{key}: unknown tag(s) {sorted(unknown)}; the only tag understood is `log`.")
        if value.start >= value.end or (log and value.start <= 0):
            raise UserError(
                f"{key}: {override.input_line} is an empty or invalid interval"
                + (" (log needs a positive start)." if log else ".")
            )
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise UserError(
        f"{key}: the sweep {override.input_line} is not supported by lalm_optuna; "
        "use choice(...), range(...) or interval(...)."
    )


def grid_values(name: str, dist: BaseDistribution) -> list[Any]:
    """The values of a discrete distribution, in order; UserError for a continuous one."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution) and not dist.log:
        return list(range(dist.low, dist.high + 1, dist.step))
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        n = int(round((dist.high - dist.low) / dist.step))
        return [round(dist.low + i * dist.step, 12) for i in range(n + 1)]
    raise UserError(
        f"The grid sampler needs discrete parameters, but '{name}' is continuous.\n"
        "Use choice(...) or range(...) for it, or another sampler (hydra/sweeper/sampler=tpe)."
    )


def format_override(key: str, value: Any) -> str:
    """`key=value` that Hydra parses back to exactly `value` (quoted only where needed)."""
    return f"{key}={format_value(value)}"


def format_value(value: Any) -> str:
    """A Hydra override value for a Python scalar."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _parses_back(text, text):
        return text
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _parses_back(literal: str, expected: str) -> bool:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        override = OverridesParser.create().parse_override(f"k={literal}")
    except HydraException:
        return False
    return not override.is_sweep_override() and override.value() == expected
