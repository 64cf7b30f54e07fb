"""Word error rate on normalised text: the one definition training and `lalm-infer` share."""

from __future__ import annotations

import re
from collections.abc import Sequence

_PUNCT = re.compile(r"[^\w\s']")


def normalize_text(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed (so 'Three, one.' == 'three one')."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def normalize_all(texts: Sequence[str]) -> list[str]:
    return [normalize_text(t) for t in texts]


def corpus_wer(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Total word errors / total reference words, after `normalize_text` (torchmetrics).

    The LightningModule feeds the same normalised texts to torchmetrics' WordErrorRate metric,
    so training's `val/wer` and `lalm-infer`'s WER are one computation.
    """
    from torchmetrics.functional.text import word_error_rate

    return float(word_error_rate(normalize_all(hypotheses), normalize_all(references)))
