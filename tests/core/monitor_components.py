"""A user's callback that monitors a validation metric by default, and a datamodule without validation."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from lalm_framework.digits.data import DigitsDataModule


class KeepBestOnVal(pl.Callback):
    """Remembers the best value of `monitor` (a validation metric unless told otherwise)."""

    def __init__(self, monitor: str = "val/loss") -> None:
        self.monitor = monitor
        self.best: float | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None:
            self.best = float(value) if self.best is None else min(self.best, float(value))


class TrainOnlyDigits(pl.LightningDataModule):
    """The digits training split and nothing to validate on."""

    def __init__(self, batch_size: int = 64, val_fraction: float = 0.2, seed: int = 0) -> None:
        super().__init__()
        self.digits = DigitsDataModule(batch_size=batch_size, val_fraction=val_fraction, seed=seed)

    def setup(self, stage: str | None = None) -> None:
        self.digits.setup(stage)

    def train_dataloader(self) -> Any:
        return self.digits.train_dataloader()
