"""Config nodes as plain Python data (for pickling, hashing, hyperparameters)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def plain_dict(node: Mapping[str, Any] | None) -> dict[str, Any]:
    """A DictConfig (resolved), a mapping or None as a plain `dict`.

    >>> from omegaconf import OmegaConf
    >>> plain_dict(OmegaConf.create({"a": 1, "b": "${a}"}))
    {'a': 1, 'b': 1}
    """
    from omegaconf import DictConfig, OmegaConf

    if node is None:
        return {}
    if isinstance(node, DictConfig):
        container = OmegaConf.to_container(node, resolve=True)
        assert isinstance(container, dict)
        return {str(k): v for k, v in container.items()}
    return dict(node)


def typed_overrides(overrides: Any) -> list[str]:
    """Hydra's `overrides.task` as typed: a `${...}` inside an override stays unresolved.

    Iterating the ListConfig would resolve it (against the job's config), so two records of one
    job would differ. Example: ``typed_overrides(HydraConfig.get().overrides.task)``.
    """
    from omegaconf import ListConfig, OmegaConf

    items = OmegaConf.to_container(overrides, resolve=False) if isinstance(overrides, ListConfig) else overrides
    return [str(o) for o in items or []]
