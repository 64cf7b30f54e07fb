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
        if isinstance(node, DictConfig):
            _check_server(name, node)
        if isinstance(node, DictConfig) and _is_wandb(node) and _online(node) and not _has_wandb_key():
            raise UserError(
                f"logger.{name}: W&B runs online but has no API key (WANDB_API_KEY is not set, "
                "and `wandb login` has not stored one).\n"
                "Put your key in the environment variable WANDB_API_KEY (or run `wandb login`), or log offline with "
                f"logger.{name}.offline=true, or choose another logger= (tensorboard, csv, mlflow)."
            )


# seconds to wait for a tracking server's TCP port before calling it unreachable
CONNECT_TIMEOUT_S = 5.0


def _check_server(name: str, node: DictConfig) -> None:
    """UserError when a logger's tracking server (`tracking_uri: http(s)://...`) cannot be reached.

    MLflow would otherwise retry for minutes inside the job, then fail with a long traceback.
    """
    uri = node.get("tracking_uri") if "tracking_uri" in node else None
    if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
        return
    import socket

    parsed = urlparse(uri)
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        with socket.create_connection((parsed.hostname or "", port), timeout=CONNECT_TIMEOUT_S):
            return
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
    from lalm_framework.masking import mask_text

    raise UserError(
        f"logger.{name}: the tracking server {mask_text(uri)} cannot be reached ({reason}).\n"
        f"Start it or fix logger.{name}.tracking_uri=..., or drop the override to log to a local file."
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
