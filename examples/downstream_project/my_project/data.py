"""The user's own datamodule: digits with Gaussian noise on the pixels."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from lalm_framework.digits.data import DigitsDataModule


class NoisyDigitsDataModule(DigitsDataModule):
    def __init__(self, batch_size: int = 64, noise: float = 0.1, seed: int = 0) -> None:
        super().__init__(batch_size=batch_size, seed=seed)
        self.noise = noise

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        gen = torch.Generator().manual_seed(self.seed)
        x, y = self.train_set[:]
        self.train_set = TensorDataset(x + self.noise * torch.randn(x.shape, generator=gen), y)
