"""`source: speechcraft`: SpeechCraft-style captions, a JSONL manifest whose target is `description`."""

from __future__ import annotations

from dataclasses import dataclass

from lalm_framework.data.sources.jsonl import JsonlSource


@dataclass
class SpeechcraftSource(JsonlSource):
    """`{source: speechcraft, path: speechcraft_train.jsonl}`: a `caption` task by default."""

    kind = "speechcraft"
    default_task = "caption"

    text_key: str = "description"


SOURCE = SpeechcraftSource
