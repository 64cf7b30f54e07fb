"""The one instantiation path: legacy nodes are rewritten, then Hydra instantiates.

Optimizers and schedulers configured inside a component's config need the component's
parameters (or optimizer), which exist only once the component is built. The rule:

- a nested node whose `_target_` is a `torch.optim.Optimizer` or an LR scheduler class and that has
  no `_partial_` reaches the component unbuilt, as a config: the component calls
  `hydra.utils.instantiate(self.hparams.optimizer, params=self.parameters())` (Lightning + Hydra
  blogs write it so);
- with `_partial_: true` it arrives as a `functools.partial` to call with the parameters
  (lightning-hydra-template writes it so);
- the node being built itself (e.g. `instantiate(cfg.optimizer, params=...)`) is always built;
- under a node with `_recursive_: false` nothing is held: Hydra hands its nested nodes over as
  configs, exactly as the user's module expects them (`+model._recursive_=false`).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from lalm_framework.compat.legacy import to_target_form, without_learning_rate_keys

AS_CONFIG = f"{__name__}.as_config"


def instantiate(cfg: Any, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate` that also accepts legacy `target`/`params` nodes at any depth.

    Example:
        >>> from lalm_framework import instantiate
        >>> instantiate({"_target_": "collections.Counter", "a": 2})
        Counter({'a': 2})
        >>> instantiate({"target": "collections.Counter", "params": {"a": 2}})  # a legacy node
        Counter({'a': 2})
    """
    from hydra.utils import instantiate as hydra_instantiate

    if isinstance(cfg, DictConfig):
        # resolve interpolations against the full config before the node leaves it
        cfg = OmegaConf.to_container(cfg, resolve=True)
    node = without_learning_rate_keys(to_target_form(cfg))
    if isinstance(node, dict) and not _not_recursive(node):
        node = {k: _hold_optimizers(v) if not k.startswith("_") else v for k, v in node.items()}
    return hydra_instantiate(node, **kwargs)


def as_config(node: Any) -> DictConfig:
    """The config a held optimizer/scheduler node arrives as (see the module docstring)."""
    container = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    config = OmegaConf.create(container)
    assert isinstance(config, DictConfig)
    return config


def _hold_optimizers(value: Any) -> Any:
    """`value` with every optimizer/scheduler node lacking `_partial_` wrapped to arrive unbuilt."""
    if isinstance(value, list):
        return [_hold_optimizers(v) for v in value]
    if not isinstance(value, dict) or _not_recursive(value):
        return value  # `_recursive_: false`: Hydra passes its nested nodes on as configs already
    if "_partial_" not in value and is_optimizer_target(value.get("_target_")):
        return {"_target_": AS_CONFIG, "_recursive_": False, "node": value}
    return {k: _hold_optimizers(v) if not str(k).startswith("_") else v for k, v in value.items()}


def _not_recursive(node: dict[str, Any]) -> bool:
    return node.get("_recursive_", True) in (False, "false", "False")


def is_optimizer_target(target: Any) -> bool:
    """Whether `target` names a torch optimizer or LR scheduler class (compared as classes)."""
    if not isinstance(target, str):
        return False
    from hydra.utils import get_class

    try:
        cls = get_class(target)
    except Exception:
        return False  # not a class (a factory function) or not importable: Hydra reports it
    import torch

    schedulers = (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    return issubclass(cls, (torch.optim.Optimizer, *schedulers))
