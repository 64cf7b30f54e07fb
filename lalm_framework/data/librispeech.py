"""LibriSpeech directory layout: `<root>/<split>/<spk>/<chapter>/<spk>-<chapter>.trans.txt` + FLACs."""

from __future__ import annotations

from pathlib import Path

from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError


def read_librispeech(root: str | Path, split: str) -> list[Utterance]:
    """All utterances of one split (e.g. `train-clean-100`, `dev-clean`), sorted by id."""
    split_dir = check_split_dir(root, split)
    utterances: list[Utterance] = []
    for trans in sorted(split_dir.glob("*/*/*.trans.txt")):
        for line_no, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            utt_id, _, text = line.strip().partition(" ")
            if not text:
                raise UserError(
                    f"{trans}:{line_no}: expected '<utterance-id> <TRANSCRIPT>', got {line!r}.\n"
                    "Fix or remove that line."
                )
            utterances.append(Utterance(id=utt_id, audio=str(trans.parent / f"{utt_id}.flac"), text=text))
    if not utterances:
        raise UserError(
            f"No transcripts (<spk>/<chapter>/*.trans.txt) under {split_dir}.\n"
            "Point dataset.root at a LibriSpeech-layout folder."
        )
    return utterances


def check_split_dir(root: str | Path, split: str) -> Path:
    """`<root>/<split>`; a UserError lists the splits found when it does not exist."""
    split_dir = Path(root) / split
    if not split_dir.is_dir():
        found = sorted(p.name for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else []
        hint = f"splits found there: {', '.join(found)}" if found else "that folder does not exist"
        raise UserError(
            f"LibriSpeech split folder not found: {split_dir} ({hint}).\n"
            "Set dataset.root to the folder holding the splits and the split names to match."
        )
    return split_dir
