"""Speech data on Lhotse: folders, JSONL and cut manifests, Shar shards -> Whisper log-mel `LalmBatch`es.

Names are imported lazily: `lalm_framework.data.batch` (the light batch contract) must not pull
torch, Lightning or Lhotse in through this package.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "LalmDataModule": "datamodule",
    "make_dataloader": "datamodule",
    "LalmCollator": "collate",
    "AudioTextDataset": "dataset",
    "Utterance": "utterance",
    "CutBatchSampler": "sampling",
    "LalmCutDataset": "dataset",
    "load_audio": "audio",
    "read_librispeech": "librispeech",
    "read_manifest": "manifest",
    "read_audio_paths": "manifest",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
