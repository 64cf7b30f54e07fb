"""`source: librispeech`: the same LibriSpeech-layout folder as `source: folder`, by its corpus name."""

from __future__ import annotations

from dataclasses import dataclass

from lalm_framework.data.sources.folder import FolderSource


@dataclass
class LibrispeechSource(FolderSource):
    """`{source: librispeech, root: /data/LibriSpeech, split: dev-clean}`."""

    kind = "librispeech"


SOURCE = LibrispeechSource
