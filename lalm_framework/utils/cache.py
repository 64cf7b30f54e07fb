"""Where lalm-framework keeps what it can recompute (audio-check records, manifest catalogs)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path


def cache_dir(kind: str) -> Path:
    """The folder for cached `kind` records: `$LALM_CACHE_DIR/<kind>`, by default under
    `$XDG_CACHE_HOME/lalm_framework` (~/.cache/lalm_framework). Deleting it only costs time.

    >>> cache_dir("audio_checks")  # doctest: +SKIP
    PosixPath('/home/me/.cache/lalm_framework/audio_checks')
    """
    root = os.environ.get("LALM_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(xdg) / "lalm_framework")
    return Path(root).expanduser() / kind


def files_key(paths: Sequence[Path], variant: str) -> str:
    """A short key of `paths`' identities (resolved path, size, mtime in ns) and `variant`:
    a record kept under it is stale once any of the files changes.

    >>> files_key([Path("train.jsonl")], "rows:text")  # doctest: +SKIP
    '3f1c...'
    """
    parts = [variant]
    for path in paths:
        st = path.stat()
        parts.append(f"{path.resolve()}\t{st.st_size}\t{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
