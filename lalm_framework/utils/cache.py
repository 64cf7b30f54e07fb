"""Where lalm-framework keeps what it can recompute (audio-check records, manifest catalogs)."""

from __future__ import annotations

import os
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
