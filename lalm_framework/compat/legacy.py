"""Legacy `target:` / `params:` (and `class_name:`) configs, as in `instantiate_from_config` code bases.

One rewrite to Hydra's `_target_` form serves both instantiation and the converter command.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

LEGACY_TARGET_KEYS = ("target", "class_name")


def is_legacy_node(node: Any) -> bool:
    """True for a mapping that names its class with `target`/`class_name` and has no `_target_`."""
    if not isinstance(node, (dict, DictConfig)) or "_target_" in node:
        return False
    keys = set(node.keys())
    has_target = any(k in keys for k in LEGACY_TARGET_KEYS)
    # only `target`/`class_name` + `params` (+ nothing else) marks the legacy form; a plain dict
    # with a field that happens to be called `target` stays data
    return (
        has_target
        and keys <= {*LEGACY_TARGET_KEYS, "params"}
        and isinstance(node.get("target", node.get("class_name")), str)
    )


def to_target_form(node: Any) -> Any:
    """Rewrite legacy nodes (recursively) to `_target_` form; other values are returned as is."""
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
