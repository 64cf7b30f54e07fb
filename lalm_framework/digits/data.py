"""`dataset=digits`: scikit-learn's bundled 8x8 digits (1797 images, no download) as a DataModule."""

from __future__ import annotations

from typing import Annotated

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset, random_split

from lalm_framework.errors import UserError
from lalm_framework.utils.ranges import AT_LEAST_1


class DigitsDataModule(pl.LightningDataModule):
    """Digits images (1797, shipped inside scikit-learn) split into train/val; test = val."""

    def __init__(self, batch_size: Annotated[int, AT_LEAST_1] = 64, val_fraction: float = 0.2, seed: int = 0) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.seed = seed

    def setup(self, stage: str | None = None) -> None:
        try:
            from sklearn.datasets import load_digits
        except ImportError as e:  # optional dependency of the example only
            raise UserError("dataset=digits needs scikit-learn: pip install 'lalm-framework[examples]'") from e
        x, y = load_digits(return_X_y=True)
        full = TensorDataset(torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y))
        n_val = int(len(full) * self.val_fraction)
        gen = torch.Generator().manual_seed(self.seed)
        self.train_set, self.val_set = random_split(full, [len(full) - n_val, n_val], generator=gen)

    def train_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        return DataLoader(self.val_set, batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        return self.val_dataloader()
