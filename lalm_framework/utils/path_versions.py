"""A data version for datamodules that do not describe their data: the paths their config names.

A datamodule with `data_fingerprint()` says what it read (ours do). For any other (a user's own
class, the digits example), run.json records instead every file and folder that the resolved
dataset config names: size, modification time and, for a folder, a hash of its listing. Two
attempts in one run dir then differ when those files changed, as with a fingerprint.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

MAX_LISTED = 200_000  # files of one folder read for its listing hash (a corpus of ~1000 h)


def config_paths_fingerprint(node: Mapping[str, Any], where: str = "dataset") -> dict[str, Any]:
    """{"kind": "config paths", "target": the class, "paths": {dotted key: version}} of `node`.

    >>> config_paths_fingerprint({"_target_": "my.DataModule", "data_dir": "data"})  # doctest: +SKIP
    {'kind': 'config paths', 'target': 'my.DataModule', 'paths': {'dataset.data_dir': {...}}}
    """
    from lalm_framework.utils.paths import resolve_path

    paths: dict[str, Any] = {}
    for key, value in _strings(node, where):
        if not _path_shaped(value):
            continue
        path = resolve_path(value)
        if path.exists() and path not in (Path(path.anchor), Path.home()):  # never walk / or ~ whole
            paths[key] = path_version(path)
    return {"kind": "config paths", "target": str(node.get("_target_", node.get("target", ""))), "paths": paths}


def path_version(path: Path) -> dict[str, Any]:
    """A file's path, bytes and mtime; a folder's files, bytes, latest mtime and listing hash."""
    if path.is_file():
        st = path.stat()
        return {"path": str(path), "kind": "file", "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    digest = hashlib.sha256()
    files = size = latest = 0
    for rel, st in _listing(path):
        files, size, latest = files + 1, size + st.st_size, max(latest, st.st_mtime_ns)
        digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {
        "path": str(path),
        "kind": "folder",
        "files": files,
        "bytes": size,
        "mtime_ns": latest,
        "sha256": digest.hexdigest()[:16],
    }


def _listing(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    seen = 0
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            if seen >= MAX_LISTED:
                return
            full = os.path.join(folder, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            seen += 1
            yield os.path.relpath(full, root), st


def _strings(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not str(key).startswith("_"):
                yield from _strings(value, f"{where}.{key}")
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _strings(value, f"{where}[{i}]")
    elif isinstance(node, str):
        yield where, node


def _path_shaped(value: str) -> bool:
    # a class path ("torch.optim.Adam") or a word is not a path; "data", "./x", "/abs" may be
    return bool(value) and "\n" not in value and len(value) < 4096 and "://" not in value
