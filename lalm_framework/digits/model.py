"""`model=digits_mlp`: a two-layer MLP classifier for the digits example."""

from __future__ import annotations

from typing import Annotated, Any

import pytorch_lightning as pl
import torch
from torch import nn

from lalm_framework.utils.ranges import LEARNING_RATE


class DigitsClassifier(pl.LightningModule):
    """Two-layer MLP; logs `train/loss`, `val/loss`, `val/acc` (and `test/*`).

    `optimizer`: an optional optimizer config, as the Lightning + Hydra blogs write it, e.g.
    `+model.optimizer={_target_: torch.optim.SGD, lr: 0.1}`; it reaches the module unbuilt (a
    `_partial_: true` node arrives as a partial). Default: Adam with `lr`.
    """

    def __init__(self, hidden: int = 64, lr: Annotated[float, LEARNING_RATE] = 1e-3, optimizer: Any = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = nn.functional.cross_entropy(logits, y)
        self.log(f"{stage}/loss", loss, prog_bar=True)
        if stage != "train":
            self.log(f"{stage}/acc", (logits.argmax(-1) == y).float().mean(), prog_bar=True)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        optimizer = self.hparams.get("optimizer")
        if optimizer is None:
            return torch.optim.Adam(self.parameters(), lr=float(self.hparams["lr"]))
        if callable(optimizer):  # `_partial_: true`
            built: torch.optim.Optimizer = optimizer(params=self.parameters())
            return built
        from hydra.utils import instantiate

        made: torch.optim.Optimizer = instantiate(optimizer, params=self.parameters())
        return made
