"""What `lalm-infer` reports per evaluation set: scores, utterances, hours, speed; the table of all sets.

A set's row: its metrics (`transcribe.scores_of`: WER/CER normalized and raw, BLEU, ...), the
utterances and hours of audio decoded, and RTFx = audio seconds / decoding seconds (loading,
features and generation together, as the call took).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lalm_framework.errors import UserError

# the table's first metric columns, in this order; other metrics (bleu, chrf, ...) follow
LEADING = ("wer", "cer", "wer_raw", "cer_raw")


@dataclass
class SetResult:
    """One set's outcome (`scores` as `scoring` scales them: error rates as fractions)."""

    utterances: int
    hours: float
    seconds: float  # decoding wall time
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def rtfx(self) -> float:
        """Audio seconds decoded per second of decoding."""
        return self.hours * 3600 / self.seconds if self.seconds > 0 else float("inf")


def set_result(rows: Sequence[Mapping[str, Any]], seconds: float, scores: dict[str, float]) -> SetResult:
    """The `SetResult` of one set's rows (their `duration`s), decoded in `seconds`."""
    audio = sum(float(r.get("duration") or 0.0) for r in rows if r.get("hypothesis") is not None)
    decoded = sum(1 for r in rows if r.get("hypothesis") is not None)
    return SetResult(decoded, audio / 3600, seconds, scores)


def results_table(results: Mapping[str, SetResult]) -> str:
    """A Markdown table, one row per set: metrics (normalized, raw), utterances, hours, RTFx."""
    from lalm_framework.scoring import format_metric

    keys = [k for k in LEADING if any(k in r.scores for r in results.values())]
    keys += sorted({k for r in results.values() for k in r.scores} - set(keys))
    header = ["set", *(_column(k) for k in keys), "utterances", "hours", "RTFx"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in results.items():
        values = [format_metric(k, r.scores[k]).rsplit(" ", 1)[-1] if k in r.scores else "-" for k in keys]
        row = [name or "(all inputs)", *values, str(r.utterances), f"{r.hours:.3f}", f"{r.rtfx:.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _column(key: str) -> str:
    """`WER (normalized)`, `WER (raw)`, `BLEU`, `caption BLEU`."""
    from lalm_framework.scoring import format_metric

    label = format_metric(key, 0.0).rsplit(" ", 1)[0]
    if key.endswith("_raw"):
        return label.replace(" raw", " (raw)")
    return f"{label} (normalized)" if key in ("wer", "cer") else label


def write_set_folder(out: Path, rows: Mapping[str, Sequence[dict[str, Any]]], results: Mapping[str, SetResult]) -> Path:
    """Create the folder `out`: `<set>.jsonl` per set, `results.json` and `results.md` (the table).

    Written to a temporary folder beside it and moved into place whole; an existing `out` is
    never replaced.
    """
    if out.exists():
        raise UserError(f"{out} exists already; earlier results are never overwritten. Choose another --out.")
    from lalm_framework.inference.transcribe import write_jsonl

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        for name, set_rows in rows.items():
            write_jsonl(set_rows, staging / f"{name}.jsonl")
        summary = {name: {**asdict(r), "rtfx": r.rtfx} for name, r in results.items()}
        (staging / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        (staging / "results.md").write_text(results_table(results) + "\n", encoding="utf-8")
        staging.chmod(0o777 & ~_umask())
        try:
            os.rename(staging, out)  # refuses a non-empty folder that appeared meanwhile
        except OSError:
            raise UserError(f"{out} was created by someone else meanwhile; choose another --out.") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
