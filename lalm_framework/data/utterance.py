"""One example: an audio file and its target text (transcript or caption)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lalm_framework.errors import UserError


@dataclass
class Utterance:
    id: str
    audio: str  # absolute path of the audio file
    text: str  # target text ("" when there is no reference, e.g. inference)
    duration: float | None = None  # seconds; filled by the audio check when unknown
    prompt: str | None = None  # per-example instruction, fills `{prompt}` in the template
    task: str | None = None  # picks the instruction from the datamodule's `prompts`
    extra: dict[str, Any] = field(default_factory=dict)  # other manifest fields (kept on the cut)
    where: str = ""  # "file:line" it was read from, for messages


def check_unique_ids(utterances: list[Utterance]) -> None:
    """Utterance ids key batches, features and results: two lines with one id are an error."""
    seen: dict[str, Utterance] = {}
    for u in utterances:
        first = seen.setdefault(u.id, u)
        if first is not u:
            raise UserError(
                f"{u.where or u.audio}: id {u.id!r} is used twice (first at {first.where or first.audio}).\n"
                "Give every line its own id (or drop the id field: the default is unique)."
            )
