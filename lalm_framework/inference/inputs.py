"""What `lalm-infer` reads: split folders, manifests, audio folders and files (no torch here)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lalm_framework.data.utterance import Utterance


def read_inputs(inputs: Sequence[str | Path], text_key: str = "text") -> list[Utterance]:
    """Utterances from LibriSpeech-layout split folders (with references), JSONL manifests
    (references when `text_key` is present), other folders and single audio files (none)."""
    from lalm_framework.data.librispeech import read_librispeech
    from lalm_framework.data.manifest import read_audio_paths, read_manifest

    utts: list[Utterance] = []
    plain: list[Path] = []
    for raw in inputs:
        p = Path(raw).expanduser()
        if p.suffix == ".jsonl":
            utts += read_manifest(p, text_key=text_key, require_text=False)
        elif p.is_dir() and any(p.glob("*/*/*.trans.txt")):
            utts += read_librispeech(p.parent, p.name)
        else:
            plain.append(p)
    if plain:
        utts += read_audio_paths(plain)
    return utts
