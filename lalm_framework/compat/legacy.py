"""Legacy `target:` / `params:` (and `class_name:`) configs, as in `instantiate_from_config` code bases.

The convention of those code bases (latent-diffusion and the LALM guide):

- a mapping with a `target` (or `class_name`) class path and a `params` mapping builds
  `target(**params)`; keys beside them (`base_learning_rate`, `scale_lr`, notes) do not take part
  in building the object, at any level;
- a mapping of only `target` (or `class_name`) builds `target()`;
- on the model node, `base_learning_rate` sets the learning rate and `scale_lr: true` scales it by
  the effective batch size: lr = accumulate_grad_batches * num_devices * num_nodes * batch_size
  * base_learning_rate (`legacy_learning_rate`); the runner sets it as `model.learning_rate`.
  In `_target_` form (what `lalm-convert-config` writes) they are `_base_learning_rate_` and
  `_scale_lr_`, reserved keys that `lalm_framework.instantiate` does not pass to the class.

One rewrite to Hydra's `_target_` form serves both instantiation and the converter command.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

LEGACY_TARGET_KEYS = ("target", "class_name")
LEGACY_KEYS = (*LEGACY_TARGET_KEYS, "params")
# siblings of a legacy model node that the runner reads (the learning-rate convention), and their
# names in `_target_` form (reserved keys: lalm_framework.instantiate never passes them on)
LEARNING_RATE_KEYS = ("base_learning_rate", "scale_lr")
TARGET_FORM_KEYS = {"base_learning_rate": "_base_learning_rate_", "scale_lr": "_scale_lr_"}


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


def to_target_form(node: Any, learning_rate: bool = False) -> Any:
    """Rewrite legacy nodes (recursively) to `_target_` form; their sibling keys are left out.

    `learning_rate`: keep `base_learning_rate`/`scale_lr` as their `_target_`-form names
    (`_base_learning_rate_`, `_scale_lr_`), which lalm-train reads the same way (the converter).
    """
    if isinstance(node, (DictConfig, ListConfig)):
        node = OmegaConf.to_container(node, resolve=False)
    if isinstance(node, list):
        return [to_target_form(v, learning_rate) for v in node]
    if not isinstance(node, dict):
        return node
    if is_legacy_node(node):
        target = node.get("target", node.get("class_name"))
        params = node.get("params") or {}
        kept = {TARGET_FORM_KEYS[k]: node[k] for k in LEARNING_RATE_KEYS if learning_rate and k in node}
        return {"_target_": target, **kept, **{k: to_target_form(v, learning_rate) for k, v in params.items()}}
    return {k: to_target_form(v, learning_rate) for k, v in node.items()}


def without_learning_rate_keys(node: Any) -> Any:
    """`node` without the `_target_`-form learning-rate keys at any depth (they are not arguments)."""
    if isinstance(node, list):
        return [without_learning_rate_keys(v) for v in node]
    if not isinstance(node, dict):
        return node
    reserved = set(TARGET_FORM_KEYS.values()) if "_target_" in node else set()
    return {k: without_learning_rate_keys(v) for k, v in node.items() if k not in reserved}


def legacy_siblings(node: Any, where: str = "") -> list[str]:
    """Dotted paths (as in the file) of the keys beside `target`/`params` in legacy nodes, but the
    learning-rate keys (`_target_` form has names for those).

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
            if legacy and key not in (*LEGACY_KEYS, *LEARNING_RATE_KEYS):
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

    base, scale = learning_rate_keys(model_node)
    if base is None:
        return None
    if not scale:
        return base
    if batch_size is None:
        raise UserError(
            "model.scale_lr=true scales the learning rate by the batch size, but the dataset config has "
            "no integer batch_size.\nSet dataset.batch_size (or dataset.params.batch_size), or model.scale_lr=false."
        )
    return accumulate_grad_batches * num_devices * num_nodes * batch_size * base


def learning_rate_keys(model_node: Any) -> tuple[float | None, bool]:
    """(base_learning_rate, scale_lr) of a model node: beside legacy `target`/`params`, or as
    `_base_learning_rate_`/`_scale_lr_` beside `_target_` (what `lalm-convert-config` writes)."""
    if not isinstance(model_node, (Mapping, DictConfig)):
        return None, False
    if is_legacy_node(model_node):
        base, scale = model_node.get("base_learning_rate"), model_node.get("scale_lr")
    elif "_target_" in model_node:
        base, scale = (
            model_node.get(TARGET_FORM_KEYS["base_learning_rate"]),
            model_node.get(TARGET_FORM_KEYS["scale_lr"]),
        )
    else:
        return None, False
    return (None if base is None else float(base)), bool(scale)
