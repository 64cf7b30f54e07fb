"""Helpers of the data tests (a unique module name: test dirs have no __init__.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from lalm_framework.samples import SAMPLE_ROOT

# a LalmModule small enough for a few training steps per test (real parts, random init)
TINY: dict[str, Any] = dict(
    encoder={
        "config": {
            "d_model": 32,
            "encoder_layers": 1,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "num_mel_bins": 80,
            "max_source_positions": 250,
        }
    },
    projector={"kind": "mlp", "stack": 4},
    llm={
        "config": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "max_position_embeddings": 256,
        }
    },
    tokenizer={"vocab_size": 200},
    generation={"max_new_tokens": 4},
    lr=3e-3,
)


def sample_utterances(split: str = "train", n: int = 8) -> list[tuple[Path, str]]:
    """(flac, transcript) pairs of the bundled set, in id order."""
    pairs = []
    for trans in sorted((SAMPLE_ROOT / split).glob("*/*/*.trans.txt")):
        for line in trans.read_text().splitlines():
            utt, text = line.split(" ", 1)
            pairs.append((trans.parent / f"{utt}.flac", text))
    return pairs[:n]


def write_manifest(folder: Path, n: int = 6, split: str = "train", name: str = "train.jsonl", **extra: Any) -> Path:
    """Copy n bundled utterances into `folder` (u0.flac, ...) and list them in a JSONL manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (flac, text) in enumerate(sample_utterances(split, n)):
        shutil.copy(flac, folder / f"u{i}.flac")
        rows.append({"audio": f"u{i}.flac", "text": text, **extra})
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
