"""Checks of the `logger` group before launch: a logger that cannot start fails here, not in every job."""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

from omegaconf import DictConfig

from lalm_framework.errors import UserError

_OFFLINE_MODES = {"offline", "disabled", "dryrun"}


def check_loggers(loggers: DictConfig | None) -> None:
    """Raise UserError for a W&B logger that would run online without credentials.

    W&B would otherwise stop each job at `wandb.init` asking for a key on a terminal nobody
    reads (or fail after the model is built). Example: ``logger=wandb`` with no
    `WANDB_API_KEY` and no `wandb login` raises, naming both and the offline switch.
    """
    if not isinstance(loggers, DictConfig):
        return
    for key, node in loggers.items():
        name = str(key)
        if isinstance(node, DictConfig) and _is_wandb(node) and _online(node) and not _has_wandb_key():
            raise UserError(
                f"logger.{name}: W&B runs online but has no API key (WANDB_API_KEY is not set, "
                "and `wandb login` has not stored one).\n"
                "Put your key in the environment variable WANDB_API_KEY (or run `wandb login`), or log offline with "
                f"logger.{name}.offline=true, or choose another logger= (tensorboard, csv, mlflow)."
            )


def _is_wandb(node: DictConfig) -> bool:
    from lalm_framework.config.signature import import_target

    target = node.get("_target_")
    if not isinstance(target, str):
        return False
    cls = import_target(target, where="logger._target_")
    from pytorch_lightning.loggers import WandbLogger  # loaded already when `cls` is Lightning's

    return isinstance(cls, type) and issubclass(cls, WandbLogger)


def _online(node: DictConfig) -> bool:
    mode = str(node.get("mode") or os.environ.get("WANDB_MODE") or "online").lower()
    return not node.get("offline") and mode not in _OFFLINE_MODES


def _has_wandb_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname or "api.wandb.ai"
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    try:
        return netrc.netrc(str(path)).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False
