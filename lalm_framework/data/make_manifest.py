"""Build a JSONL manifest (for `dataset=jsonl`) from a folder of audio plus transcripts.

    python -m lalm_framework.data.make_manifest FOLDER OUT.jsonl [--text-key text]

FOLDER is either a LibriSpeech-layout split (`<spk>/<chapter>/*.flac` + `*.trans.txt`), or any
folder (searched recursively) of audio files, each with a UTF-8 `.txt` of the same name holding
its transcript (`clip1.wav` + `clip1.txt`). Every line gets `id`, `audio` (relative to the
manifest's folder when inside it), the text and `duration` (read from the audio header). A file
without transcript, an unreadable audio file or a bad transcript stops with a message naming it.
OUT.jsonl is never overwritten.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from lalm_framework.data.checks import check_audio_files
from lalm_framework.data.librispeech import is_librispeech_split, read_librispeech
from lalm_framework.data.manifest import AUDIO_EXTENSIONS, manifest_row
from lalm_framework.data.textfile import text_lines
from lalm_framework.data.utterance import Utterance, check_unique_ids
from lalm_framework.errors import UserError
from lalm_framework.utils.files import atomic_write


def folder_utterances(folder: Path) -> list[Utterance]:
    """The utterances of `folder`: its LibriSpeech layout, or its audio + same-name .txt pairs."""
    if not folder.is_dir():
        raise UserError(f"Folder not found: {folder}.")
    if is_librispeech_split(folder):
        return read_librispeech(folder.parent, folder.name)
    audio = sorted(f for f in folder.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file())
    if not audio:
        raise UserError(f"No audio files ({', '.join(AUDIO_EXTENSIONS)}) under {folder}.")
    missing = [a for a in audio if not a.with_suffix(".txt").is_file()]
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise UserError(
            f"{len(missing)} audio file(s) without a transcript: {', '.join(str(m) for m in missing[:3])}{more}.\n"
            "Put each transcript in a .txt file of the same name (clip1.wav + clip1.txt)."
        )
    utts = []
    for a in audio:
        txt = a.with_suffix(".txt")
        text = " ".join(line.strip() for _, line in text_lines(txt, "transcript") if line.strip())
        if not text:
            raise UserError(f"{txt}: the transcript is empty.")
        rel = a.relative_to(folder).with_suffix("")
        utts.append(Utterance(id=str(rel).replace("\\", "/"), audio=str(a.resolve()), text=text, where=str(txt)))
    check_unique_ids(utts)
    return utts


def write_manifest(utterances: list[Utterance], out: Path, text_key: str = "text") -> None:
    """Write `utterances` as a new JSONL manifest `out` (atomic; an existing file is an error)."""
    if out.exists():
        raise UserError(f"{out} exists already; manifests are never overwritten. Choose another name.")
    base = out.resolve().parent
    lines = [json.dumps(manifest_row(u, base, text_key), ensure_ascii=False) + "\n" for u in utterances]
    atomic_write(out, "".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lalm_framework.data.make_manifest",
        description=__doc__.splitlines()[0],
        epilog="Then: lalm-train dataset=jsonl dataset.train_manifest=OUT.jsonl dataset.val_manifest=...",
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument("out", type=Path, help="the manifest to create (.jsonl)")
    parser.add_argument("--text-key", default="text", help="field name for the transcripts (default: text)")
    args = parser.parse_args(argv)
    from lalm_framework.errors import exit_with

    try:
        utts = check_audio_files(folder_utterances(args.folder), str(args.folder))
        write_manifest(utts, args.out, args.text_key)
    except UserError as e:
        exit_with(e)
    print(f"wrote {len(utts)} utterances to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
