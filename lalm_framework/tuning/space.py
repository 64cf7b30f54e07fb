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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from lalm_framework.errors import UserError

if TYPE_CHECKING:
    from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep


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
        _drop(space.distributions, name)
        _drop(fixed, name)
        if override.is_sweep_override():
            space.distributions[key] = to_distribution(override)
        else:
            fixed[key] = override.input_line or f"{key}={override.get_value_element_as_str()}"
    space.fixed = list(fixed.values())
    return space


def _drop(entries: dict[str, Any], name: str) -> None:
    """Remove the entry of `name`, whatever its +/~ prefix (a later override of a key replaces it)."""
    for key in [k for k in entries if k.lstrip("+~") == name]:
        del entries[key]


# the only tag lalm_optuna understands; Hydra's grammar accepts any word there
LOG_TAG = "log"
TAG_EXAMPLE = "tag(log, interval(1e-5, 1e-2)) for floats, tag(log, int(interval(1, 64))) for integers"


def to_distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override; UserError for any form it cannot honour.

    Honoured: choice / a,b (categorical, also shuffled or sorted), range (int or float with a step;
    shuffled: categorical), interval (uniform; `int(...)`: integers), `tag(log, interval(...))` and
    `tag(log, range(a, b))` with integers and step 1 (log-uniform). Everything else the grammar
    can write (a tag on a choice, a tag a cast dropped, unknown tags, glob, a zero step, ...) is
    an error naming the key, so that no sweep runs with a space other than the one typed.
    """
    from hydra.core.override_parser.types import ChoiceSweep, Glob, IntervalSweep, RangeSweep

    key = override.get_key_element()
    text = override.input_line or f"{key}={override.get_value_element_as_str()}"
    value = override.value()
    if override.is_delete():
        raise UserError(f"{text}: a deleted key (~{key.lstrip('~')}) cannot be searched; drop the ~ or the sweep.")
    if isinstance(value, Glob):
        raise UserError(f"{text}: glob() is not supported by lalm_optuna; list the options: {key}=choice(a, b, ...).")
    tags = set(getattr(value, "tags", set()))
    if not tags and _names_tag(text):
        raise UserError(
            f"{text}: the tag is lost (Hydra's int()/float()/str()/bool() keep no tags of choice() or "
            f"range(), and tag() needs a tag name).\nPut tag(...) outermost: {TAG_EXAMPLE}."
        )
    unknown = sorted(tags - {LOG_TAG})
    if unknown:
        raise UserError(f"{text}: unknown tag(s) {unknown}; the only tag understood is `{LOG_TAG}`.")
    if isinstance(value, ChoiceSweep):
        if tags:
            raise UserError(
                f"{text}: a choice has no scale, so tag({LOG_TAG}, ...) cannot apply to it.\n"
                f"For a log-uniform range write {TAG_EXAMPLE}; or drop the tag to search the listed values."
            )
        return _categorical(key, list(override.sweep_iterator()))
    if isinstance(value, RangeSweep):
        return _range_distribution(override, value, text, log=LOG_TAG in tags)
    if isinstance(value, IntervalSweep):
        return _interval_distribution(value, text, log=LOG_TAG in tags)
    raise UserError(
        f"{text}: this sweep is not supported by lalm_optuna; use choice(...), range(...) or interval(...)."
    )


def _names_tag(text: str) -> bool:
    """True when the override's text calls tag(...) outside quoted strings."""
    unquoted = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "", text.split("=", 1)[-1])
    return re.search(r"(?<![\w.])tag\s*\(", unquoted) is not None


def _categorical(key: str, choices: list[Any]) -> CategoricalDistribution:
    for c in choices:
        if not isinstance(c, (str, int, float, bool, type(None))):
            raise UserError(f"{key}: choices must be numbers, strings, booleans or null, got {c!r}.")
    return CategoricalDistribution(choices)


def _range_distribution(override: Override, value: RangeSweep, text: str, log: bool) -> BaseDistribution:
    if not value.step:
        raise UserError(f"{text}: the step of a range cannot be 0.")
    values: list[Any] = list(override.sweep_iterator())
    if not values:
        raise UserError(f"{text} is empty (the range stops before it starts; the stop value is excluded, as in Hydra).")
    if value.shuffle and not log:  # order means nothing to a sampler: the same set of values
        return _categorical(override.get_key_element(), values)
    step = abs(value.step)
    ints = all(isinstance(v, int) for v in values) and isinstance(step, int)
    if log and (value.shuffle or not ints or step != 1 or min(values) <= 0):
        raise UserError(
            f"{text}: tag({LOG_TAG}, range(...)) needs integers from a positive start with step 1 "
            f"(e.g. tag(log, range(1, 65))).\nFor other log-uniform ranges write {TAG_EXAMPLE}."
        )
    if ints:
        low, high = min(values), max(values)  # sort(..., reverse=true) counts down
        return IntDistribution(low, high, log=True) if log else IntDistribution(low, high, step=int(step))
    floats = [float(v) for v in values]
    return FloatDistribution(min(floats), max(floats), step=float(step))


def _interval_distribution(value: IntervalSweep, text: str, log: bool) -> BaseDistribution:
    start, end = value.start, value.end
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (start, end)):
        raise UserError(f"{text}: an interval needs two numbers.")
    assert start is not None and end is not None
    if start >= end or (log and start <= 0):
        raise UserError(f"{text} is an empty or invalid interval" + (" (log needs a positive start)." if log else "."))
    if isinstance(start, int) and isinstance(end, int):
        return IntDistribution(start, end, log=log)
    return FloatDistribution(float(start), float(end), log=log)


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
