"""The one instantiation path: legacy nodes are rewritten, then Hydra instantiates."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from lalm_framework.compat.legacy import to_target_form


def instantiate(cfg: Any, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate` that also accepts legacy `target`/`params` nodes at any depth."""
    from hydra.utils import instantiate as hydra_instantiate

    if isinstance(cfg, DictConfig):
        # resolve interpolations against the full config before the node leaves it
        cfg = OmegaConf.to_container(cfg, resolve=True)
    return hydra_instantiate(to_target_form(cfg), **kwargs)
