"""Where a dataset's cuts come from: one module per kind of source (`source:` in a node).

- `base`: `Source` (the extension point), `SplitCuts` (checked cuts and their per-epoch views);
- `folder`, `librispeech`: a LibriSpeech-layout split folder; `jsonl`, `speechcraft`: a JSONL
  manifest; `lhotse`: a Lhotse cut manifest; `shar`: Lhotse Shar shards;
- `nodes`: source nodes as users write them -> `Source` objects.
"""

from lalm_framework.data.catalog import Row, rows_digest
from lalm_framework.data.sources.base import (
    CatalogSource,
    KeepIds,
    ManifestCuts,
    Source,
    SplitCuts,
    UtteranceSource,
    source_fingerprint,
)
from lalm_framework.data.sources.folder import FolderSource
from lalm_framework.data.sources.jsonl import JsonlSource
from lalm_framework.data.sources.lhotse import CutsSource
from lalm_framework.data.sources.shar import SharSource
from lalm_framework.data.sources.speechcraft import SpeechcraftSource

__all__ = [
    "CatalogSource",
    "CutsSource",
    "FolderSource",
    "JsonlSource",
    "KeepIds",
    "ManifestCuts",
    "Row",
    "SharSource",
    "Source",
    "SpeechcraftSource",
    "SplitCuts",
    "UtteranceSource",
    "rows_digest",
    "source_fingerprint",
]
