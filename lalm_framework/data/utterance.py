"""One example: an audio file and its target text (transcript or caption)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class Utterance:
    id: str
    audio: str                       # absolute path of the audio file
    text: str                        # target text ("" when there is no reference, e.g. inference)
    duration: Optional[float] = None  # seconds; filled by the audio check when unknown
    prompt: Optional[str] = None     # per-example instruction, fills `{prompt}` in the template
    task: Optional[str] = None       # picks the instruction from the datamodule's `prompts`
