"""A Lightning callback that paces training (a sleep after every batch), so that a job's run time
is known in advance: the time-limit test needs a job that cannot finish within its limit."""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl


class Pace(pl.Callback):
    def __init__(self, seconds_per_batch: float) -> None:
        self.seconds_per_batch = seconds_per_batch

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        time.sleep(self.seconds_per_batch)
