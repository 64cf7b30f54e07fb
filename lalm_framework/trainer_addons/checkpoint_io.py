"""Checkpoints: written atomically, read safely (no code runs while loading), checked against the model.

Every path that loads one goes through `read_checkpoint`: `lalm-infer`, `lalm-export`, and
Lightning's own loading (resume, `trainer.ckpt_path` for validate/test) via `AtomicCheckpointIO`,
which the runner always installs.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lightning_fabric.utilities.cloud_io import get_filesystem
from pytorch_lightning.plugins.io import TorchCheckpointIO

from lalm_framework.errors import UserError
from lalm_framework.utils.files import atomic_write

# What a checkpoint may hold: torch's weights-only unpickler admits tensors, dtypes, devices,
# numbers, strings, None and the builtin containers (its own allow-list), plus these types.
# Our checkpoints (weights, optimizer and scheduler states, loop and callback states, plain
# hyperparameters) need nothing more; tests/models/test_checkpoint_safety.py checks that.
SAFE_TYPES: tuple[Any, ...] = ()
# In-memory only: the file a checkpoint dict was read from, for messages of the model's checks.
SOURCE_KEY = "lalm_loaded_from"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save to a temporary file in the same directory, fsync, then rename over the target.

    Load with `read_checkpoint`: weights only, whatever `weights_only` Lightning asks for.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        from lalm_framework.masking import mask_tree

        checkpoint = mask_tree(checkpoint)  # hyper_parameters hold the config: no secret leaves in a file
        if not _is_local(path):
            # remote stores (s3://, gs://) have their own atomic object writes
            return super().save_checkpoint(checkpoint, path, storage_options)
        import torch

        atomic_write(path, lambda f: torch.save(checkpoint, f), fsync=True)

    def load_checkpoint(self, path: Any, map_location: Any | None = None, weights_only: bool | None = None) -> Any:
        if not _is_local(path):
            return super().load_checkpoint(path, map_location=map_location, weights_only=True)
        return read_checkpoint(path, map_location=map_location)


def _is_local(path: Any) -> bool:
    fs = get_filesystem(path)
    return fs.protocol in ("file", ("file", "local")) or "file" in fs.protocol


def read_checkpoint(path: str | Path, map_location: Any | None = "cpu") -> dict[str, Any]:
    """The Lightning checkpoint at `path`, unpickled with weights only (nothing in it can run code).

    UserError, naming the file and why, for a missing, empty, truncated or corrupt file, one that
    is no Lightning checkpoint, or one whose pickle refers to anything beyond `SAFE_TYPES`.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"Checkpoint not found: {path}. Give the .ckpt file a training run wrote "
            "(e.g. <run dir>/checkpoints/last.ckpt)."
        )
    if not zipfile.is_zipfile(path):
        raise UserError(f"Cannot load checkpoint {path}: {_not_a_zip(path)}")
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as e:
        raise UserError(f"Cannot load checkpoint {path}: {_corrupt(e)}") from None
    if unsafe:
        raise UserError(_refused(path, unsafe))
    try:
        with torch.serialization.safe_globals(list(SAFE_TYPES)):
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise UserError(_refused(path, [str(e).strip().splitlines()[0][:200]])) from None
    except Exception as e:
        raise UserError(f"Cannot load checkpoint {path}: {_corrupt(e)}") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), Mapping):
        raise UserError(
            f"Cannot load checkpoint {path}: it holds no Lightning checkpoint (no 'state_dict' "
            "of weights). Give a .ckpt written by lalm-train (or a Lightning Trainer)."
        )
    checkpoint[SOURCE_KEY] = str(path)
    return checkpoint


def _not_a_zip(path: Path) -> str:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
    if size == 0:
        return "the file is empty (0 bytes): an interrupted copy or save. Use another checkpoint."
    if head.startswith(b"PK"):
        return (
            f"it is truncated or corrupt (an incomplete zip archive of {size} bytes: an interrupted "
            "copy or save?). Copy it again, or use another checkpoint (e.g. the best one)."
        )
    return (
        "it is not a PyTorch zip checkpoint, the only format lalm-train writes (an old-style "
        "pickle can run code when loaded, so it is not read). Give a .ckpt written by lalm-train."
    )


def _corrupt(e: BaseException) -> str:
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    return f"it is truncated or corrupt ({first}). Copy it again, or use another checkpoint (e.g. the best one)."


def _refused(path: Path, unsafe: Iterable[str]) -> str:
    names = ", ".join(list(unsafe)[:3])
    return (
        f"Refused to load checkpoint {path}: its pickle refers to {names}, which is not among the "
        "types a checkpoint holds (tensors, numbers, strings, lists, dicts). Loading it could run "
        "code from whoever made the file. Use checkpoints from sources you trust, written by lalm-train."
    )
