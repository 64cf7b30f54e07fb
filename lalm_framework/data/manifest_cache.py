"""A JSONL manifest's parsed rows, kept on disk so a later run does not parse it again.

Parsing a manifest checks and converts every line (JSON, fields, audio paths, unique ids): at
281,000 lines that is seconds of CPU on every run, and again in every process of a sweep. The
first read writes the utterances, with the digest of their (id, audio, text) rows that the data
fingerprint hashes, to `cache_dir("manifests")`, keyed by the manifest's path, size and mtime and
the read's options; a later read of the unchanged file loads them instead. A changed manifest gets
a new record, a missing or damaged one only means a full parse.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lalm_framework.data.catalog import rows_digest
from lalm_framework.data.utterance import Utterance
from lalm_framework.utils.cache import cache_dir, files_key
from lalm_framework.utils.files import atomic_write

log = logging.getLogger(__name__)

VERSION = 1


@dataclass(frozen=True)
class ParsedManifest:
    """A manifest's utterances in file order, and `rows_digest` of their (id, audio, text)."""

    utterances: list[Utterance]
    digest: str


def parsed_manifest(path: Path, variant: str, parse: Callable[[], list[tuple[int, Utterance]]]) -> ParsedManifest:
    """The utterances of `path` as `parse()` gives them ((line number, utterance) pairs), from
    the record of an earlier parse of the unchanged file when there is one.

    `variant` names the options that shape the result. The record keeps each utterance's line
    number, not its `where`: that is rebuilt from `path` as given.
    """
    # the path as given and the home folder shape the audio paths (relative to it, `~`)
    key = files_key([path], f"{variant}\t{path}\t{os.path.expanduser('~')}\tv{VERSION}")
    found = _load(key, path)
    if found is None:
        numbered = parse()
        utts = [u for _, u in numbered]
        found = ParsedManifest(utts, rows_digest((u.id, u.audio, u.text) for u in utts))
        _save(key, numbered, found.digest)
    return found


def _file(key: str) -> Path:
    return cache_dir("manifests") / f"{key}.json"


def _load(key: str, path: Path) -> ParsedManifest | None:
    try:
        data = json.loads(_file(key).read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            return None
        utts = [
            Utterance(i, audio, text, duration, prompt, task, extra, f"{path}:{line}")
            for i, audio, text, duration, prompt, task, extra, line in data["rows"]
        ]
        return ParsedManifest(utts, data["digest"])
    except FileNotFoundError:
        return None
    except Exception as e:  # a damaged record: parse the manifest again
        log.warning("manifest record %s unreadable (%s): parsing the manifest again", _file(key), type(e).__name__)
        return None


def _save(key: str, numbered: list[tuple[int, Utterance]], digest: str) -> None:
    rows = [[u.id, u.audio, u.text, u.duration, u.prompt, u.task, u.extra, line] for line, u in numbered]
    try:
        atomic_write(_file(key), json.dumps({"version": VERSION, "digest": digest, "rows": rows}, ensure_ascii=False))
    except (OSError, TypeError, ValueError) as e:  # unwritable cache, or a field JSON cannot hold again
        log.warning("manifest record not written (%s): the next run parses the manifest again", e)
