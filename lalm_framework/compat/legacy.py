"""Legacy `target:` / `params:` (and `class_name:`) configs, as in `instantiate_from_config` code bases.

The convention of those code bases (latent-diffusion and the LALM guide):

- a mapping with a `target` (or `class_name`) class path and a `params` mapping builds
  `target(**params)`; keys beside them (`base_learning_rate`, `scale_lr`, notes) do not take part
  in building the object, at any level;
- a mapping of only `target` (or `class_name`) builds `target()`;
- on the model node, `base_learning_rate` sets the learning rate and `scale_lr: true` scales it by
  the effective batch size: lr = accumulate_grad_batches * num_devices * num_nodes * batch_size
  * base_learning_rate (`legacy_learning_rate`); the runner sets it as `model.learning_rate`.

One rewrite to Hydra's `_target_` form serves both instantiation and the converter command.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

LEGACY_TARGET_KEYS = ("target", "class_name")
LEGACY_KEYS = (*LEGACY_TARGET_KEYS, "params")
# siblings of a legacy model node that the runner reads (the learning-rate convention)
LEARNING_RATE_KEYS = ("base_learning_rate", "scale_lr")


def is_legacy_node(node: Any) -> bool:
    """True for a mapping that names its class with `target`/`class_name` (a string) and has no `_target_`.

    With a `params` mapping, other keys may sit beside them; without one, the node must hold the
    class path alone: `{target: wer, weight: 1.0}` is data, not a legacy node.
    """
    if not isinstance(node, (Mapping, DictConfig)) or "_target_" in node:
        return False
    names = [k for k in LEGACY_TARGET_KEYS if k in node]
    if len(names) != 1 or not isinstance(node.get(names[0]), str):
        return False
    if "params" in node:
        return node.get("params") is None or isinstance(node.get("params"), (Mapping, DictConfig))
    return set(node.keys()) == set(names)


def to_target_form(node: Any) -> Any:
    """Rewrite legacy nodes (recursively) to `_target_` form; their sibling keys are left out."""
    if isinstance(node, (DictConfig, ListConfig)):
        node = OmegaConf.to_container(node, resolve=False)
    if isinstance(node, list):
        return [to_target_form(v) for v in node]
    if not isinstance(node, dict):
        return node
    if is_legacy_node(node):
        target = node.get("target", node.get("class_name"))
        params = node.get("params") or {}
        return {"_target_": target, **{k: to_target_form(v) for k, v in params.items()}}
    return {k: to_target_form(v) for k, v in node.items()}


def legacy_siblings(node: Any, where: str = "") -> list[str]:
    """Dotted paths (as in the file) of the keys beside `target`/`params` in legacy nodes.

    `_target_` form cannot hold them: they would become constructor arguments.
    """
    if isinstance(node, (DictConfig, ListConfig)):
        node = OmegaConf.to_container(node, resolve=False)
    found: list[str] = []
    if isinstance(node, list):
        for i, v in enumerate(node):
            found += legacy_siblings(v, f"{where}[{i}]")
    elif isinstance(node, dict):
        legacy = is_legacy_node(node)
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            if legacy and key not in LEGACY_KEYS:
                found.append(path)
            else:
                found += legacy_siblings(value, path)
    return found


def legacy_learning_rate(
    model_node: Any, batch_size: int | None, accumulate_grad_batches: int, num_devices: int, num_nodes: int
) -> float | None:
    """The learning rate a legacy model node's `base_learning_rate`/`scale_lr` ask for (None if not set).

    lr = base_learning_rate, times accumulate_grad_batches * num_devices * num_nodes * batch_size
    when `scale_lr` is true (the latent-diffusion convention).
    """
    from lalm_framework.errors import UserError

    if not is_legacy_node(model_node) or model_node.get("base_learning_rate") is None:
        return None
    base = float(model_node["base_learning_rate"])
    if not model_node.get("scale_lr"):
        return base
    if batch_size is None:
        raise UserError(
            "model.scale_lr=true scales the learning rate by the batch size, but the dataset config has "
            "no integer batch_size.\nSet dataset.batch_size (or dataset.params.batch_size), or model.scale_lr=false."
        )
    return accumulate_grad_batches * num_devices * num_nodes * batch_size * base
