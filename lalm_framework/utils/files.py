"""Files that are either complete or absent: readers never see a half-written one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

TEMP_MARK = ".tmp-"


def temp_prefix(path: Path) -> str:
    """The name prefix of `atomic_write`'s temporary files for `path` (hidden, in its directory)."""
    return f".{path.name}{TEMP_MARK}"


def leftover_temp_files(directory: Path) -> list[Path]:
    """`atomic_write` temporary files directly in `directory`: what a killed writer left behind.

    Only safe to delete while no process writes to `directory` (the job dir's lock held).
    """
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f".*{TEMP_MARK}*") if p.is_file() and not p.is_symlink())


def atomic_write(
    path: str | Path, content: str | bytes | Callable[[IO[bytes]], None], fsync: bool = False, masked: bool = False
) -> None:
    """Write `content` (text, bytes, or a function writing to a binary file) to `path` atomically.

    A temporary file in the same directory is renamed over `path`; `fsync` also survives a
    machine crash (checkpoints), at the cost of a disk flush. `masked`: secrets in text
    `content` are masked first (`lalm_framework.masking`); not for user data (transcripts).
    """
    path = Path(path)
    if masked and isinstance(content, str):
        from lalm_framework.masking import mask_file_text

        content = mask_file_text(path.name, content)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path))
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode() if isinstance(content, str) else content)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
