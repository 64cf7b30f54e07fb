"""JSONL manifests (one JSON object per line: audio path + text) and plain audio files/folders.

Fields of a line (see docs/data.md):
- the audio path in `audio`, `audio_filepath` or `path` (relative paths are relative to the
  manifest's folder);
- the target text in `text_key` (`text` for ASR, e.g. `description` for SpeechCraft captions);
- optional `id` (default: `<audio file stem>#<line>`), `duration` (seconds), `prompt`, `task`;
- any other field is kept with the utterance (on the Lhotse cut's supervision `custom`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lalm_framework.data.textfile import text_lines
from lalm_framework.data.utterance import Utterance, check_unique_ids
from lalm_framework.errors import UserError

if TYPE_CHECKING:
    from lalm_framework.data.manifest_cache import ParsedManifest

AUDIO_KEYS = ("audio", "audio_filepath", "path")
AUDIO_EXTENSIONS = (".flac", ".wav", ".ogg", ".mp3", ".opus")
EXAMPLE_LINE = '{"audio": "clips/a.flac", "text": "turn on the light", "duration": 1.9}'


def read_manifest(
    path: str | Path, text_key: str = "text", require_text: bool = True, unique_ids: bool = True
) -> list[Utterance]:
    """Utterances of a JSONL manifest, in file order; a bad line raises a UserError naming it.

    `unique_ids=False` (inference: rows are matched to inputs by position, never by id) accepts
    two lines with one id; training and evaluation key cuts by id and refuse them.
    """
    return list(parsed(path, text_key, require_text, unique_ids).utterances)


def parsed(path: str | Path, text_key: str, require_text: bool, unique_ids: bool) -> ParsedManifest:
    """The parsed manifest, from this process's memo or the on-disk record (`manifest_cache`)."""
    from lalm_framework.data.manifest_cache import parsed_manifest

    path = Path(path)
    check_manifest_file(path)
    st = path.stat()
    key = (str(path), str(path.resolve()), st.st_size, st.st_mtime_ns, text_key, require_text, unique_ids)
    if key not in _READ:
        while len(_READ) >= 4:  # a run's splits, a few at a time
            del _READ[next(iter(_READ))]
        variant = f"{text_key}\t{require_text}\t{unique_ids}"
        _READ[key] = parsed_manifest(path, variant, lambda: _read_lines(path, text_key, require_text, unique_ids))
    return _READ[key]


# the manifests read last, by (path, size, mtime, options): the tokenizer, the data fingerprint
# and the split's loading each ask for it
_READ: dict[tuple[str, str, int, int, str, bool, bool], ParsedManifest] = {}


def _read_lines(path: Path, text_key: str, require_text: bool, unique_ids: bool) -> list[tuple[int, Utterance]]:
    utterances: list[tuple[int, Utterance]] = []
    for line_no, line in text_lines(path, "manifest"):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(
                f"{where}: not valid JSON ({e.msg}, column {e.colno}).\nEach line must be one JSON object, "
                f"e.g. {EXAMPLE_LINE}"
            ) from None
        if not isinstance(row, dict):
            raise UserError(f"{where}: expected a JSON object, got {type(row).__name__}.\ne.g. {EXAMPLE_LINE}")
        utterances.append((line_no, _utterance(row, where, path.parent, text_key, require_text, line_no)))
    if unique_ids:
        check_unique_ids([u for _, u in utterances])
    return utterances


def check_manifest_file(path: Path) -> None:
    """UserError unless `path` is a readable UTF-8 file with at least one non-blank line."""
    if not path.is_file():
        raise UserError(
            f"Manifest not found: {path}.\nCheck the dataset's manifest path "
            "(relative paths are taken from the directory you started in)."
        )
    if not any(line.strip() for _, line in text_lines(path, "manifest")):
        raise UserError(f"Manifest {path} is empty.\nAdd one JSON object per line, e.g. {EXAMPLE_LINE}")


def _utterance(
    row: dict[str, Any], where: str, base: Path, text_key: str, require_text: bool, line_no: int
) -> Utterance:
    audio_key = next((k for k in AUDIO_KEYS if k in row), None)
    if audio_key is None or not isinstance(row[audio_key], str) or not row[audio_key].strip():
        raise UserError(
            f"{where}: no audio path: expected one of the keys {', '.join(AUDIO_KEYS)} holding a path "
            f"(found {', '.join(row) or 'none'})."
        )
    text = row.get(text_key)
    if text is None and require_text:
        raise UserError(
            f"{where}: no '{text_key}' field (found {', '.join(row) or 'none'}).\n"
            f"Add it, or set dataset.text_key to the field that holds the target text."
        )
    if text is not None and not isinstance(text, str):
        raise UserError(f"{where}: '{text_key}' must be a string, got {json.dumps(text)[:60]}.")
    for key in ("prompt", "task", "id"):
        if row.get(key) is not None and not isinstance(row[key], (str, int)):
            raise UserError(f"{where}: '{key}' must be a string, got {json.dumps(row[key])[:60]}.")
    duration = row.get("duration")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))):
        raise UserError(f"{where}: 'duration' must be a number of seconds, got {json.dumps(duration)[:60]}.")
    audio = Path(row[audio_key]).expanduser()
    audio = audio if audio.is_absolute() else base / audio
    used = {audio_key, text_key, "id", "duration", "prompt", "task"}
    return Utterance(
        id=str(row.get("id", f"{audio.stem}#{line_no}")),
        audio=str(audio),
        text=text or "",
        duration=float(duration) if duration is not None else None,
        prompt=row.get("prompt"),
        task=row.get("task"),
        extra={k: v for k, v in row.items() if k not in used},
        where=where,
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


def manifest_row(u: Utterance, base: Path | None = None, text_key: str = "text") -> dict[str, Any]:
    """The manifest line of `u` (the inverse of `read_manifest`); paths relative to `base` when inside it."""
    audio = Path(u.audio)
    if base is not None and audio.is_relative_to(base):
        audio = audio.relative_to(base)
    row: dict[str, Any] = {"id": u.id, "audio": str(audio), text_key: u.text}
    if u.duration is not None:
        row["duration"] = round(u.duration, 4)
    row.update({k: v for k, v in (("prompt", u.prompt), ("task", u.task)) if v is not None})
    row.update(u.extra)
    return row
