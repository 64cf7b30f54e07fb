"""Notebook API: compose the config `lalm-train` would run."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig


def compose(
    overrides: list[str] | None = None, config_name: str = "train", config_dir: str | None = None
) -> DictConfig:
    """Same composition as `lalm-train [--config-dir DIR] OVERRIDES` (job config, unresolved)."""
    from hydra import compose as hydra_compose
    from hydra import initialize, initialize_config_dir

    ctx = (
        initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3")
        if config_dir
        else initialize(config_path=None, version_base="1.3")
    )
    with ctx:
        return hydra_compose(config_name=config_name, overrides=list(overrides or []))
