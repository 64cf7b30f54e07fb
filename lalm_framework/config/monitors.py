"""Callbacks that monitor a validation metric, in a run where no validation runs.

Lightning fails such a run at the first epoch end with a long RuntimeError (EarlyStopping), or
a ModelCheckpoint silently keeps no best. Before launch, `check_monitors` refuses a callback the
user chose that monitors a `val...` metric; our default checkpoint (which follows `${monitor}`,
a metric the user did not ask for) monitors `train/loss` instead (`with_monitor_fallback`).
"""

from __future__ import annotations

import inspect
import logging
import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lalm_framework.errors import UserError

log = logging.getLogger(__name__)

FALLBACK = "train/loss"
_FOLLOWS_DEFAULT = "${monitor}"  # our callbacks' monitor: the run's, not one the user named
_VAL_METRIC = re.compile(r"^val(id(ation)?)?[/_.\-]")


def no_validation_reason(cfg: DictConfig) -> str | None:
    """Why the fit of `cfg` runs no validation at all (an option to name), or None when it runs some.

    Example: ``trainer.limit_val_batches=0`` -> "trainer.limit_val_batches=0".
    """
    trainer = cfg.get("trainer")
    if not cfg.get("train", True) or not isinstance(trainer, DictConfig) or trainer.get("fast_dev_run"):
        return None  # fast_dev_run validates one batch whatever the limits
    limit = trainer.get("limit_val_batches")
    if isinstance(limit, (int, float)) and not isinstance(limit, bool) and limit == 0:
        return f"trainer.limit_val_batches={limit}"
    every, epochs = trainer.get("check_val_every_n_epoch"), trainer.get("max_epochs")
    if isinstance(every, int) and isinstance(epochs, int) and 0 < epochs < every:
        return f"trainer.check_val_every_n_epoch={every} is more than trainer.max_epochs={epochs}"
    for group, hook in (("model", "validation_step"), ("dataset", "val_dataloader")):
        cls = _target_class(cfg.get(group))
        if cls is not None and not _overrides(cls, hook):
            return f"{group} {cls.__name__} defines no {hook}"
    return None


def check_monitors(cfg: DictConfig) -> None:
    """UserError for a chosen callback that monitors a validation metric when no validation runs.

    Example: ``trainer.limit_val_batches=0 callbacks=[default,early_stopping]`` raises, naming
    `callbacks.early_stopping`, its metric, why and the two fixes.
    """
    reason = no_validation_reason(cfg)
    if reason is None:
        return
    for name, node, monitor in _monitoring(cfg):
        if _follows_default(node) and _is_checkpoint(node):
            continue  # with_monitor_fallback: our default checkpoint monitors train/loss
        cls = str(node.get("_target_", "?")).rsplit(".", 1)[-1]
        raise UserError(
            f"callbacks.{name}: {cls} monitors '{monitor}', but no validation runs ({reason}).\n"
            f"Enable validation, or monitor the training loss: callbacks.{name}.monitor={FALLBACK}."
        )


def with_monitor_fallback(cfg: DictConfig) -> list[DictConfig]:
    """The `callbacks.<name>` nodes to build; without validation, our default checkpoint monitors train/loss.

    One log line says so. Every checkpoint callback then saves at the end of each training epoch.
    Example: with ``trainer.limit_val_batches=0`` the default `callbacks.model_checkpoint` keeps
    the checkpoint of the lowest `train/loss`.
    """
    nodes = [c for c in cfg.callbacks.values() if c]
    reason = no_validation_reason(cfg)
    if reason is None:
        return nodes
    changed = {id(node) for name, node, _ in _monitoring(cfg) if _follows_default(node) and _is_checkpoint(node)}
    from omegaconf import open_dict

    out = []
    for node in nodes:
        if id(node) in changed:
            log.warning(
                "No validation runs (%s): the best checkpoint is chosen on %s instead of %s.",
                reason,
                FALLBACK,
                cfg.monitor,
            )
            node = node.copy()
            node.monitor, node.mode = FALLBACK, "min"
        if _is_checkpoint(node) and node.get("save_on_train_epoch_end") is None:
            # Lightning's default saves at validation end when check_val_every_n_epoch > 1,
            # which never comes: no best, and no last.ckpt to resume from
            node = node.copy()
            with open_dict(node):
                node.save_on_train_epoch_end = True
        out.append(node)
    return out


def _monitoring(cfg: DictConfig) -> list[tuple[str, DictConfig, str]]:
    """(name, node, metric) of each callback that would monitor a validation metric."""
    found = []
    callbacks = cfg.get("callbacks")
    for name, node in callbacks.items() if isinstance(callbacks, DictConfig) else []:
        if not isinstance(node, DictConfig) or "_target_" not in node:
            continue
        monitor = node.get("monitor") if "monitor" in node else _default_argument(node, "monitor")
        if isinstance(monitor, str) and _VAL_METRIC.match(monitor):
            found.append((str(name), node, monitor))
    return found


def _follows_default(node: DictConfig) -> bool:
    return "monitor" in node and OmegaConf.to_container(node, resolve=False).get("monitor") == _FOLLOWS_DEFAULT  # type: ignore[union-attr]


def _is_checkpoint(node: DictConfig) -> bool:
    cls = _target_class(node)
    return cls is not None and any(c.__name__ == "ModelCheckpoint" for c in cls.__mro__)


def _default_argument(node: DictConfig, name: str) -> Any:
    cls = _target_class(node)
    if cls is None:
        return None
    try:
        param = inspect.signature(cls).parameters.get(name)
    except (TypeError, ValueError):
        return None
    return None if param is None or param.default is inspect.Parameter.empty else param.default


def _target_class(node: Any) -> type | None:
    """The class a config node builds (None: no node, a function, or not importable here)."""
    from lalm_framework.compat.legacy import to_target_form
    from lalm_framework.config.signature import import_target

    if not isinstance(node, DictConfig):
        return None
    target = to_target_form(OmegaConf.to_container(node, resolve=False)).get("_target_")
    if not isinstance(target, str):
        return None
    try:
        obj = import_target(target, "_target_")
    except UserError:
        return None  # the component checks name it
    return obj if inspect.isclass(obj) else None


def _overrides(cls: type, hook: str) -> bool:
    """Whether `cls` (or a base of its own, not Lightning's) defines `hook`."""
    for base in cls.__mro__:
        if hook in vars(base):
            return not base.__module__.startswith(("pytorch_lightning.", "lightning."))
    return True  # no Lightning class: we cannot tell, so do not refuse
