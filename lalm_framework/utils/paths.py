"""Paths given by users resolve against the directory the command was started from."""

from __future__ import annotations

from pathlib import Path


def resolve_path(path: str | Path) -> Path:
    """Absolute path of `path`; relative ones are taken from the launch directory.

    Under Hydra this stays right with `hydra.job.chdir=True` (the job runs in its own dir).
    """
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        from hydra.utils import get_original_cwd

        return Path(get_original_cwd()) / p
    return p.resolve()
