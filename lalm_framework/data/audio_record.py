"""What an audio check found, recorded per source, so later runs check with one `stat` per file.

The first check of a source (a manifest, a folder) probes every file (header + tail decode,
`audio.audio_problem`) and reads its Lhotse header; the record keeps, per file, its size and
mtime with what the probe found. A later check trusts a file whose size and mtime are unchanged
and probes again any other one: an edited, replaced or truncated file is probed anew, a removed
one fails its stat, and both are reported as before. Records live in `cache_dir("audio_checks")`,
one JSON file per source; a missing or unreadable record only means a full check.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lalm_framework.data.audio import audio_problem
from lalm_framework.utils.cache import cache_dir
from lalm_framework.utils.files import atomic_write

if TYPE_CHECKING:
    from lhotse import Recording

log = logging.getLogger(__name__)

VERSION = 1


@dataclass(frozen=True)
class FileCheck:
    """One file as checked: its stat, and either a problem or its duration and Lhotse header."""

    size: int
    mtime_ns: int
    problem: str | None = None
    duration: float | None = None  # seconds, from the probe (what utterances get)
    sampling_rate: int = 0
    num_samples: int = 0
    rec_duration: float = 0.0  # what Recording.from_file says
    channels: int = 0

    def recording(self, path: str, recording_id: str) -> Recording:
        """The `Recording` that `Recording.from_file(path, recording_id)` gives, without opening it."""
        from lhotse import AudioSource, Recording

        return Recording(
            id=recording_id,
            sources=[AudioSource(type="file", channels=list(range(self.channels)), source=path)],
            sampling_rate=self.sampling_rate,
            num_samples=self.num_samples,
            duration=self.rec_duration,
        )


# the last check of each file in this process: cuts are built from it without a header read
_KNOWN: dict[str, FileCheck] = {}


def known_check(path: str) -> FileCheck | None:
    """This process's latest good check of `path` (None: not checked, or bad)."""
    found = _KNOWN.get(path)
    return found if found is not None and found.problem is None and found.channels > 0 else None


def check_files(paths: Iterable[str], record: str | None = None, threads: int = 8) -> dict[str, FileCheck | str]:
    """{path: its check, or the problem of a file that cannot be stat-ed} for the unique `paths`.

    `record` names the source whose record to trust and update (None: probe every file).
    """
    unique = list(dict.fromkeys(paths))
    trusted = _load(record) if record is not None else {}
    out: dict[str, FileCheck | str] = {}
    todo: list[tuple[str, os.stat_result]] = []
    for path in unique:  # a stat is cheap next to a thread hand-off: serially
        try:
            st = os.stat(path)
        except OSError:
            out[path] = "file not found"
            continue
        old = trusted.get(path)
        if old is not None and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
            out[path] = old
        else:
            todo.append((path, st))
    if todo:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for (path, _), check in zip(todo, pool.map(lambda t: _probe(*t), todo), strict=True):
                out[path] = check
    for path, found in out.items():
        if isinstance(found, FileCheck):
            _KNOWN[path] = found
        else:  # removed since an earlier check in this process
            _KNOWN.pop(path, None)
    gone = any(isinstance(out[p], str) for p in trusted if p in out)
    if record is not None and (todo or gone):
        kept = {p: c for p, c in trusted.items() if p not in out}  # files of the source not listed this time
        kept.update({p: c for p, c in out.items() if isinstance(c, FileCheck)})
        _save(record, kept)
    if todo:
        if len(todo) == len(unique):
            log.info("audio check: probed %d file(s)", len(todo))
        else:  # the others are known from the record, unchanged
            log.info("audio check: probed %d new or changed of %d file(s)", len(todo), len(unique))
    return out


def _probe(path: str, st: os.stat_result) -> FileCheck:
    problem, duration = audio_problem(path)
    if problem is not None:
        return FileCheck(st.st_size, st.st_mtime_ns, problem=problem)
    from lhotse import Recording

    try:
        rec = Recording.from_file(path)
    except Exception as e:
        return FileCheck(st.st_size, st.st_mtime_ns, problem=f"cannot read the audio header ({type(e).__name__})")
    source = rec.sources[0]
    plain = len(rec.sources) == 1 and source.type == "file" and source.source == path and not rec.transforms
    channels = len(source.channels) if plain and source.channels == list(range(len(source.channels))) else 0
    return FileCheck(
        st.st_size, st.st_mtime_ns, None, duration, rec.sampling_rate, rec.num_samples, rec.duration, channels
    )


def _file(record: str) -> Path:
    return cache_dir("audio_checks") / f"{hashlib.sha256(record.encode()).hexdigest()[:24]}.json"


def _load(record: str) -> dict[str, FileCheck]:
    path = _file(record)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION or data.get("source") != record:
            return {}
        return {p: FileCheck(*row) for p, row in data["files"].items()}
    except FileNotFoundError:
        return {}
    except Exception as e:  # a damaged record: check everything again
        log.warning("audio check record %s unreadable (%s): checking every file", path, type(e).__name__)
        return {}


def _save(record: str, checks: dict[str, FileCheck]) -> None:
    rows: dict[str, Any] = {
        p: [c.size, c.mtime_ns, c.problem, c.duration, c.sampling_rate, c.num_samples, c.rec_duration, c.channels]
        for p, c in checks.items()
    }
    try:
        atomic_write(_file(record), json.dumps({"version": VERSION, "source": record, "files": rows}))
    except OSError as e:  # a read-only cache costs time on the next run, not this one
        log.warning("audio check record not written (%s): the next run checks every file again", e)
