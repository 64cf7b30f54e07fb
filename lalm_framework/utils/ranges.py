"""Declared value ranges: a class or schema says the range of an argument where it declares its type.

The type check (`config.signature`) accepts `dataset.batch_size=0`: it is an int. The class would
fail inside the job, deep in a DataLoader. So the declaration carries the range, and the check
before launch reads it from there, never from the argument's name (a user's class with
`max_duration=-1` as a sentinel is its own judge):

- a signature annotation: ``batch_size: Annotated[int, AT_LEAST_1] | None = 8``;
- a schema field: ``num_nodes: int = field(default=1, metadata=AT_LEAST_1.field())``.

Only stdlib here: the schemas import it on every `lalm-train --help`.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

RANGE_KEY = "lalm_range"  # the dataclass field metadata key of a declared Range


@dataclass(frozen=True)
class Range:
    """A lower bound on a number, and the words that say what the value must be.

    Example: ``Range(1, "must be at least 1", example="1").check("trainer", "num_nodes", 0)``
    raises "trainer.num_nodes=0: must be at least 1.\\nGive a value in that range, e.g. trainer.num_nodes=1."
    """

    minimum: float
    requirement: str
    exclusive: bool = False  # the minimum itself is out of range
    example: str = ""  # a value in range for the fix line; none: the requirement says the fix
    whole: bool = False  # a whole number: any other value but null is out of range too

    def ok(self, value: float) -> bool:
        return value > self.minimum if self.exclusive else value >= self.minimum

    def check(self, where: str, key: str, value: Any) -> None:
        """Raise UserError when `value` is a number outside the range (other values are the type check's)."""
        number = not isinstance(value, bool) and isinstance(value, (int, float))
        not_whole = self.whole and value is not None and not (number and isinstance(value, int))
        if not not_whole and (not number or self.ok(value)):
            return
        from lalm_framework.errors import UserError

        fix = f"\nGive a value in that range, e.g. {where}.{key}={self.example}." if self.example else ""
        raise UserError(f"{where}.{key}={value!r}: {self.requirement}.{fix}")

    def field(self) -> dict[str, Range]:
        """The `metadata` of a dataclass field with this range."""
        return {RANGE_KEY: self}


AT_LEAST_1 = Range(1, "must be at least 1", example="1")
AT_LEAST_0 = Range(0, "must be 0 or more", example="0")
# lr=0 freezes the weights, which a debugging run may want; a negative one never makes sense
LEARNING_RATE = Range(0, "must be 0 or more", example="1e-4")
POSITIVE_SECONDS = Range(0, "must be greater than 0", exclusive=True, example="30")


def declared_range(annotation: Any) -> Range | None:
    """The Range an annotation declares: ``Annotated[T, Range]``, also inside ``Optional``/``Union``."""
    if typing.get_origin(annotation) is typing.Annotated:
        return next((m for m in annotation.__metadata__ if isinstance(m, Range)), None)
    for arg in typing.get_args(annotation):
        found = declared_range(arg)
        if found is not None:
            return found
    return None


def field_ranges(schema: type) -> Mapping[str, Range]:
    """Field name -> Range of the fields of dataclass `schema` that declare one."""
    return {f.name: f.metadata[RANGE_KEY] for f in fields(schema) if RANGE_KEY in f.metadata}


def check_declared(func: Any, values: Mapping[str, Any], where: str) -> None:
    """Check each of `values` whose argument of `func` declares a Range (e.g. pass ``locals()``).

    Example: in ``__init__(self, batch_size: Annotated[int, AT_LEAST_1] = 8)``,
    ``check_declared(Cls.__init__, locals(), "dataset")`` refuses batch_size=0.
    """
    for key, declared in _declared_ranges(func).items():
        if key in values:
            declared.check(where, key, values[key])


@functools.cache
def _declared_ranges(func: Any) -> dict[str, Range]:
    hints = typing.get_type_hints(func, include_extras=True)
    return {k: r for k, hint in hints.items() if (r := declared_range(hint)) is not None}
