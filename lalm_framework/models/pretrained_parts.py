"""Loading pretrained parts from a local directory or a hub id, with a clear error when absent."""

from __future__ import annotations

import os
from typing import Any

from lalm_framework.errors import UserError


def from_pretrained_or_error(cls: Any, path: str, option: str, **kwargs: Any) -> Any:
    """`cls.from_pretrained(path)`, turning a missing local dir / unreachable hub id into a UserError."""
    try:
        return cls.from_pretrained(path, **kwargs)
    except OSError as e:
        where = (
            "the directory does not exist"
            if _looks_local(path) and not os.path.isdir(path)
            else "it is neither a local model directory nor a hub id that can be downloaded"
            + (" (HF_HUB_OFFLINE=1 is set)" if os.environ.get("HF_HUB_OFFLINE") == "1" else "")
        )
        raise UserError(
            f"{option}={path!r} cannot be loaded: {where}. Set {option} to a local "
            f"directory saved with save_pretrained(), or a hub id with network access "
            f"(see the LALM_*_PATH environment variables in the model presets)."
        ) from e


def check_local_path(path: str | None, option: str) -> None:
    """Fail early on a local-looking model path that does not exist (hub ids are left to load time)."""
    if path and _looks_local(path) and not os.path.isdir(os.path.expanduser(path)):
        raise UserError(
            f"{option}={path!r}: no such directory. Set {option} to a model directory "
            "saved with save_pretrained(), or to a hub id such as 'org/name'."
        )


def _looks_local(path: str) -> bool:
    # hub ids look like "org/name"; anything else with a path shape is meant as a directory
    return os.path.isabs(path) or path.startswith((".", "~")) or path.count("/") > 1
