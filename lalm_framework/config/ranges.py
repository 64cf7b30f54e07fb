"""Value ranges of the arguments whose meaning is the same in every class: sizes and counts.

The type check (`config.signature`) accepts `dataset.batch_size=0`: it is an int. The class
would fail inside the job, deep in a DataLoader. These names mean one thing wherever they appear
(ours, Lightning's, a user's data module), so their range is checked by name, before launch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lalm_framework.errors import UserError


@dataclass(frozen=True)
class Range:
    """A predicate on a number and the words that say what it requires."""

    ok: Callable[[float], bool]
    requirement: str
    example: str


_AT_LEAST_1 = Range(lambda v: v >= 1, "at least 1", "1")
_AT_LEAST_0 = Range(lambda v: v >= 0, "0 or more", "0")
_LEARNING_RATE = Range(lambda v: v >= 0, "0 or more", "1e-4")
_POSITIVE = Range(lambda v: v > 0, "greater than 0", "30")

# argument name (full match) -> its range; only numbers are judged (`num_workers: auto` passes)
_BY_NAME: list[tuple[re.Pattern[str], Range]] = [
    (re.compile(r"(\w+_)?batch_size"), _AT_LEAST_1),
    (re.compile(r"num_workers|max_retries|warmup_steps|prefetch_factor"), _AT_LEAST_0),
    (re.compile(r"num_buckets|accumulate_grad_batches|num_nodes"), _AT_LEAST_1),
    (re.compile(r"check_val_every_n_epoch|log_every_n_steps"), _AT_LEAST_1),
    (re.compile(r"max_duration|max_utterance_duration"), _POSITIVE),
    # lr=0 freezes the weights, which a debugging run may want; a negative one never makes sense
    (re.compile(r"lr|learning_rate|base_learning_rate"), _LEARNING_RATE),
    (re.compile(r"min_utterance_duration|weight_decay|dropout"), _AT_LEAST_0),
    (re.compile(r"gradient_clip_val"), _AT_LEAST_0),
]


def check_range(where: str, key: str, value: Any) -> None:
    """Raise UserError when `value` of argument `key` is a number outside its name's range.

    Example: ``check_range("dataset", "batch_size", 0)`` raises
    "dataset.batch_size=0: must be at least 1 ...".
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    for pattern, rng in _BY_NAME:
        if pattern.fullmatch(key):
            if not rng.ok(value):
                raise UserError(
                    f"{where}.{key}={value}: must be {rng.requirement}.\n"
                    f"Give a value in that range, e.g. {where}.{key}={rng.example}."
                )
            return
