"""JSONL manifests (one JSON object per line: audio path + text) and plain audio files/folders.

Accepted keys: audio path in `audio`, `audio_filepath` or `path` (relative paths are relative
to the manifest's folder); the target in `text_key` (`text` for ASR, e.g. `description` for
SpeechCraft-style captions); optional `id`, `duration`, `prompt`, `task`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError

AUDIO_KEYS = ("audio", "audio_filepath", "path")
AUDIO_EXTENSIONS = (".flac", ".wav", ".ogg", ".mp3", ".opus")


def read_manifest(path: str | Path, text_key: str = "text", require_text: bool = True) -> list[Utterance]:
    """Utterances of a JSONL manifest, in file order."""
    path = Path(path)
    check_manifest_file(path)
    utterances: list[Utterance] = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{where}: not valid JSON ({e.msg}). Each line must be one JSON object.") from None
        if not isinstance(row, dict):
            raise UserError(f"{where}: expected a JSON object, got {type(row).__name__}.")
        utterances.append(_utterance(row, where, path.parent, text_key, require_text, line_no))
    return utterances


def check_manifest_file(path: Path) -> None:
    """UserError unless `path` is a file with at least one non-blank line."""
    if not path.is_file():
        raise UserError(
            f"Manifest not found: {path}.\nCheck the dataset's manifest path "
            "(relative paths are taken from the directory you started in)."
        )
    with open(path, encoding="utf-8") as fh:
        if not any(line.strip() for line in fh):
            raise UserError(
                f'Manifest {path} is empty.\nAdd one JSON object per line, e.g. {{"audio": "a.flac", "text": "hello"}}.'
            )


def _utterance(row: dict, where: str, base: Path, text_key: str, require_text: bool, line_no: int) -> Utterance:
    audio_key = next((k for k in AUDIO_KEYS if k in row), None)
    if audio_key is None or not isinstance(row[audio_key], str):
        raise UserError(
            f"{where}: no audio path: expected one of the keys {', '.join(AUDIO_KEYS)} "
            f"(found {', '.join(row) or 'none'})."
        )
    text = row.get(text_key)
    if text is None and require_text:
        raise UserError(
            f"{where}: no '{text_key}' field (found {', '.join(row)}).\n"
            f"Add it, or set dataset.text_key to the field that holds the target text."
        )
    audio = Path(row[audio_key]).expanduser()
    audio = audio if audio.is_absolute() else base / audio
    duration = row.get("duration")
    return Utterance(
        id=str(row.get("id", row.get("utt_id", f"{audio.stem}#{line_no}"))),
        audio=str(audio),
        text=str(text or ""),
        duration=float(duration) if duration is not None else None,
        prompt=row.get("prompt"),
        task=row.get("task"),
    )


def read_audio_paths(paths: Iterable[str | Path], extensions: Iterable[str] | None = None) -> list[Utterance]:
    """Utterances without references from audio files and folders (searched recursively)."""
    exts = tuple(e.lower() for e in (extensions or AUDIO_EXTENSIONS))
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in exts))
        elif p.is_file():
            files.append(p)
        else:
            raise UserError(f"Audio path not found: {p}.")
    if not files:
        raise UserError(f"No audio files ({', '.join(exts)}) in {', '.join(map(str, paths))}.")
    return [Utterance(id=f.stem, audio=str(f.resolve()), text="") for f in files]
