"""lalm-framework: train Large Audio Language Models with PyTorch Lightning and Hydra.

Kept light on purpose: importing this package must not import torch (the CLI's `--help` and
`--cfg` paths import it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from lalm_framework.errors import UserError

if TYPE_CHECKING:
    from lalm_framework.config.store import register
    from lalm_framework.inference.pretrained import PretrainedLalm


def __getattr__(name: str) -> Any:
    # `register` imports Hydra: only when used (load_pretrained's users need no Hydra)
    if name == "register":
        from lalm_framework.config.store import register

        return register
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_pretrained(path: str, device: str = "cpu") -> PretrainedLalm:
    """A model exported by `lalm-export`, ready for `.transcribe([...])`: no Lightning, Hydra or pickle."""
    from lalm_framework.inference.pretrained import load_pretrained as _load

    return _load(path, device=device)


def compose(overrides: list[str] | None = None, config_name: str = "train", config_dir: str | None = None) -> Any:
    """Compose the same job config `lalm-train` would (for notebooks and scripts)."""
    from lalm_framework.api import compose as _compose

    return _compose(overrides=overrides, config_name=config_name, config_dir=config_dir)


def run(cfg: Any) -> Any:
    """Run one job (train/validate/test) from a composed config; returns the monitored metric.

    Inside a Hydra app the job's output dir is Hydra's; elsewhere a fresh `outputs/<task>/<time>`.
    """
    from lalm_framework.runner import run as _run

    return _run(cfg)


def short_errors() -> None:
    """Print config and data mistakes of this process's `@hydra.main` app as `lalm-train` does.

    One line before calling your app: the problem and the fix in a few lines, no traceback
    (HYDRA_FULL_ERROR=1 still shows it). Genuine crashes keep Hydra's own report.
    """
    from lalm_framework.cli.short_errors import install

    install()


def instantiate(cfg: Any, **kwargs: Any) -> Any:
    """Instantiate `_target_` and legacy `target`/`params` configs, nested, through one path."""
    from lalm_framework.compat.instantiate import instantiate as _instantiate

    return _instantiate(cfg, **kwargs)


__all__ = ["compose", "run", "instantiate", "register", "short_errors", "load_pretrained", "UserError", "__version__"]
