"""A small real DataModule with a data fingerprint: digits stored as one .npz file per sample."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

SPLITS = ("train", "val")


def write_split(root: Path, split: str, x: np.ndarray, y: np.ndarray) -> None:
    (root / split).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        np.savez(root / split / f"{i:05d}.npz", x=image, y=label)


class PlainFileDigits(pl.LightningDataModule):
    """Without `data_fingerprint()`, as most users' own datamodules are."""

    def __init__(self, root: str, batch_size: int = 64) -> None:
        super().__init__()
        self.root = Path(root)
        self.batch_size = batch_size
        self.sets: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        for split in SPLITS:
            rows = [np.load(f) for f in self._files(split)]
            x = torch.tensor(np.stack([r["x"] for r in rows]) / 16.0, dtype=torch.float32)
            self.sets[split] = TensorDataset(x, torch.tensor(np.stack([r["y"] for r in rows])))

    def _files(self, split: str) -> list[Path]:
        return sorted((self.root / split).glob("*.npz"))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.sets["train"], batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.sets["val"], batch_size=self.batch_size)


class FileDigitsDataModule(PlainFileDigits):
    def data_fingerprint(self) -> dict[str, Any]:
        out = {}
        for split in SPLITS:
            files = self._files(split)
            digest = hashlib.sha256("\n".join(f.name for f in files).encode())
            out[split] = {
                "sources": [str(self.root / split)],
                "files": len(files),
                "bytes": sum(f.stat().st_size for f in files),
                "sha256": digest.hexdigest(),
            }
        return out
