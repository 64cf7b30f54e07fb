"""A non-audio example for the generic runner: an MLP on scikit-learn's bundled 8x8 digits."""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split

from lalm_framework.errors import UserError


class DigitsDataModule(pl.LightningDataModule):
    """Digits images (1797, shipped inside scikit-learn) split into train/val; test = val."""

    def __init__(self, batch_size: int = 64, val_fraction: float = 0.2, seed: int = 0) -> None:
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

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()


class DigitsClassifier(pl.LightningModule):
    """Two-layer MLP; logs `train/loss`, `val/loss`, `val/acc`."""

    def __init__(self, hidden: int = 64, lr: float = 1e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = nn.functional.cross_entropy(logits, y)
        self.log(f"{stage}/loss", loss, prog_bar=True)
        if stage != "train":
            self.log(f"{stage}/acc", (logits.argmax(-1) == y).float().mean(), prog_bar=True)
        return loss

    def training_step(self, batch, batch_idx):  # noqa: D102
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):  # noqa: D102
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):  # noqa: D102
        self._step(batch, "test")

    def configure_optimizers(self):  # noqa: D102
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
