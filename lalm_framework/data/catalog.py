"""A lazy cut manifest's per-cut metadata (id, duration, text, audio), read in one pass and kept.

Lhotse cut manifests and Shar shards are read lazily: each question about a split (how many
cuts, their texts for the tokenizer, the data fingerprint, the duration filter, the hours) would
otherwise parse every line again. The first pass checks every line (a Lhotse cut, one text,
unique ids) and writes this catalog to `cache_dir("catalogs")`, keyed by the manifests' paths,
sizes and mtimes: a later run, or another process of the same run, reads it instead of the
manifests. A changed manifest gets a new catalog. The catalog also keeps the digest of its
(id, audio, text) rows for the data fingerprint, which would otherwise sort and hash every row
on every run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lalm_framework.utils.cache import cache_dir, files_key
from lalm_framework.utils.files import atomic_write

if TYPE_CHECKING:
    from lhotse.cut import Cut

log = logging.getLogger(__name__)

VERSION = 2  # 2: the rows' digest

Row = tuple[str, str, str]  # (id, audio, text): what the data fingerprint hashes


@dataclass(frozen=True)
class CutEntry:
    """What a catalog keeps of one cut."""

    id: str
    duration: float
    text: str
    audio: str  # what the data fingerprint hashes: the audio files ("," joined) or the recording id
    files: tuple[str, ...]  # the audio files the cut reads (none for Shar)


@dataclass(frozen=True)
class Catalog:
    """The cuts of one split's manifests, in manifest order."""

    ids: list[str]
    durations: list[float]
    texts: list[str]
    audio: list[str]
    files: list[list[str]]
    digest: str = ""  # `rows_digest` of the rows (computed with the catalog)

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self) -> list[Row]:
        """(id, audio, text) of every cut, in manifest order."""
        return list(zip(self.ids, self.audio, self.texts, strict=True))


_MEMO: dict[str, Catalog] = {}
FIELDS = ("ids", "durations", "texts", "audio", "files", "digest")


def catalog(manifests: Sequence[Path], variant: str, cuts: Callable[[], Iterable[Cut]], entry: EntryOf) -> Catalog:
    """The catalog of `manifests` (read as `cuts()`, each cut described by `entry`).

    `variant` names what else shapes the entries (e.g. the text key). `entry` raises a
    UserError on a bad cut; then nothing is recorded.
    """
    key = files_key(manifests, f"{variant}:v{VERSION}")  # each version its own file
    found = _MEMO.get(key) or _load(key)
    if found is None:
        entries = [entry(c) for c in cuts()]
        found = Catalog(
            [e.id for e in entries],
            [e.duration for e in entries],
            [e.text for e in entries],
            [e.audio for e in entries],
            [list(e.files) for e in entries],
        )
        found = dataclasses.replace(found, digest=rows_digest(found.rows()))
        _save(key, found)
    _MEMO[key] = found
    return found


EntryOf = Callable[["Cut"], CutEntry]


def rows_digest(rows: Iterable[Row]) -> str:
    """sha256 of the sorted (id, audio, text) rows: equal for equal utterance lists."""
    h = hashlib.sha256()
    for row in sorted(rows):
        h.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


def _file(key: str) -> Path:
    return cache_dir("catalogs") / f"{key}.json"


def _load(key: str) -> Catalog | None:
    try:
        data = json.loads(_file(key).read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            return None
        return Catalog(data["ids"], data["durations"], data["texts"], data["audio"], data["files"], data["digest"])
    except FileNotFoundError:
        return None
    except Exception as e:  # a damaged catalog: read the manifests again
        log.warning("manifest catalog %s unreadable (%s): reading the manifests again", _file(key), type(e).__name__)
        return None


def _save(key: str, cat: Catalog) -> None:
    data = {"version": VERSION, **{k: getattr(cat, k) for k in FIELDS}}
    try:
        atomic_write(_file(key), json.dumps(data, ensure_ascii=False))
    except OSError as e:
        log.warning("manifest catalog not written (%s): the next run reads the manifests again", e)
