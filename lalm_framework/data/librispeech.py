"""LibriSpeech directory layout: `<root>/<split>/<spk>/<chapter>/<spk>-<chapter>.trans.txt` + FLACs."""

from __future__ import annotations

from pathlib import Path

from lalm_framework.data.textfile import text_lines
from lalm_framework.data.utterance import Utterance, check_unique_ids
from lalm_framework.errors import UserError

TRANSCRIPTS = "*/*/*.trans.txt"


def read_librispeech(root: str | Path, split: str) -> list[Utterance]:
    """All utterances of one split (e.g. `train-clean-100`, `dev-clean`), sorted by transcript file.

    Transcript lines must be `<utterance-id> <TRANSCRIPT>` in UTF-8; the audio of each line is
    `<utterance-id>.flac` beside its transcript file.
    """
    split_dir = check_split_dir(root, split)
    utterances: list[Utterance] = []
    for trans in sorted(split_dir.glob(TRANSCRIPTS)):
        for line_no, line in text_lines(trans, "transcript"):
            if not line.strip():
                continue
            utt_id, _, text = line.strip().partition(" ")
            if not text.strip():
                raise UserError(
                    f"{trans}:{line_no}: expected '<utterance-id> <TRANSCRIPT>', got {line[:80]!r}.\n"
                    "Fix or remove that line."
                )
            utterances.append(
                Utterance(
                    id=utt_id,
                    audio=str(trans.parent / f"{utt_id}.flac"),
                    text=text.strip(),
                    where=f"{trans}:{line_no}",
                )
            )
    if not utterances:
        raise UserError(
            f"No transcripts ({TRANSCRIPTS}) under {split_dir}.\nPoint dataset.root at a LibriSpeech-layout folder."
        )
    check_unique_ids(utterances)
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


def is_librispeech_split(path: Path) -> bool:
    """True for a folder in LibriSpeech split layout (it holds `<spk>/<chapter>/*.trans.txt`)."""
    return path.is_dir() and any(path.glob(TRANSCRIPTS))
