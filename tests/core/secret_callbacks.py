"""A user's callback whose failure message carries secrets (a URL password and a token)."""

from __future__ import annotations

import pytorch_lightning as pl

CALLBACK_PW = "cbPw-71829"
CALLBACK_TOKEN = "hf_" + "Cb7" * 12


class FailingUpload(pl.Callback):
    """Raises at the start of training when `fail` is true, as an upload to a hub that refused would."""

    def __init__(self, fail: bool = True) -> None:
        self.fail = fail

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.fail:
            raise RuntimeError(f"upload to https://bob:{CALLBACK_PW}@host failed (token {CALLBACK_TOKEN})")
