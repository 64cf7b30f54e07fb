"""A LightningModule in the latent-diffusion style: `configure_optimizers` reads `self.learning_rate`."""

from __future__ import annotations

import torch

from lalm_framework.digits.model import DigitsClassifier


class LdmDigitsClassifier(DigitsClassifier):
    learning_rate = 1.0  # set by the runner from the legacy node's base_learning_rate / scale_lr

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.learning_rate)
