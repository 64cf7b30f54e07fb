"""Helpers of the data tests (a unique module name: test dirs have no __init__.py)."""

from __future__ import annotations

from pathlib import Path

from lalm_framework.samples import SAMPLE_ROOT


def sample_utterances(split: str = "train", n: int = 8) -> list[tuple[Path, str]]:
    """(flac, transcript) pairs of the bundled set, in id order."""
    pairs = []
    for trans in sorted((SAMPLE_ROOT / split).glob("*/*/*.trans.txt")):
        for line in trans.read_text().splitlines():
            utt, text = line.split(" ", 1)
            pairs.append((trans.parent / f"{utt}.flac", text))
    return pairs[:n]
