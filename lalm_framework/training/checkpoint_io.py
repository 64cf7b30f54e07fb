"""Checkpoints written atomically: a crash mid-write never leaves a truncated `last.ckpt`."""

from __future__ import annotations

from typing import Any

from lightning_fabric.utilities.cloud_io import get_filesystem
from pytorch_lightning.plugins.io import TorchCheckpointIO

from lalm_framework.utils.files import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save to a temporary file in the same directory, fsync, then rename over the target."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        fs = get_filesystem(path)
        if fs.protocol not in ("file", ("file", "local")) and "file" not in fs.protocol:
            # remote stores (s3://, gs://) have their own atomic object writes
            return super().save_checkpoint(checkpoint, path, storage_options)
        import torch

        atomic_write(path, lambda f: torch.save(checkpoint, f), fsync=True)
