"""One example: an audio file and its target text (transcript or caption)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Utterance:
    id: str
    audio: str  # absolute path of the audio file
    text: str  # target text ("" when there is no reference, e.g. inference)
    duration: float | None = None  # seconds; filled by the audio check when unknown
    prompt: str | None = None  # per-example instruction, fills `{prompt}` in the template
    task: str | None = None  # picks the instruction from the datamodule's `prompts`
