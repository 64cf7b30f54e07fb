"""A Lightning callback that makes N jobs meet before training: proof that they run concurrently."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytorch_lightning as pl


class Barrier(pl.Callback):
    """Each job drops a file in `dir`, then waits until `parties` files exist (or fails)."""

    def __init__(self, dir: str, parties: int, timeout_s: float = 120.0) -> None:
        self.dir, self.parties, self.timeout_s = Path(dir), parties, timeout_s

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / str(os.getpid())).touch()
        deadline = time.time() + self.timeout_s
        while len(list(self.dir.iterdir())) < self.parties:
            if time.time() > deadline:
                raise RuntimeError(f"only {len(list(self.dir.iterdir()))} of {self.parties} jobs ever ran at once")
            time.sleep(0.05)
