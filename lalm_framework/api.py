"""Notebook API: compose the config `lalm-train` would run, in a plain Python process."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lalm_framework.compat.private_api import own_global_hydra
from lalm_framework.config.resolvers import pin_paths


def compose(
    overrides: list[str] | None = None, config_name: str = "train", config_dir: str | None = None
) -> DictConfig:
    """Same composition as `lalm-train [--config-dir DIR] OVERRIDES` (the job config, unresolved).

    Works beside a Hydra `initialize()` the caller left open (that context is restored after).
    `paths.root_dir` is the current dir and `paths.output_dir` a fresh `outputs/<task>/<time>`
    dir (unless overridden), so the config resolves and `lalm_framework.run(cfg)` runs it.

    Example:
        >>> from lalm_framework import compose
        >>> cfg = compose(["experiment=digits", "trainer.max_epochs=1"])
        >>> cfg.trainer.max_epochs
        1
    """
    from hydra import compose as hydra_compose
    from hydra import initialize, initialize_config_dir

    with own_global_hydra():  # beside a caller's open initialize(): theirs comes back after
        ctx = (
            initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3")
            if config_dir
            else initialize(config_path=None, version_base="1.3")
        )
        with ctx:
            cfg = hydra_compose(config_name=config_name, overrides=list(overrides or []))
    # fixed here, not left to the resolvers: a Hydra app that ran earlier in this process (a
    # notebook) leaves its runtime behind, and this config must not reuse its output dir
    pin_paths(cfg)
    return cfg
