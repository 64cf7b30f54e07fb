"""lalm-framework: train Large Audio Language Models with PyTorch Lightning and Hydra.

Kept light on purpose: importing this package must not import torch (the CLI's `--help` and
`--cfg` paths import it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from lalm_framework.errors import UserError

if TYPE_CHECKING:
    # the real functions, so a downstream mypy sees their signatures (this package ships py.typed);
    # at run time `__getattr__` imports them on first use: `import lalm_framework` stays free of
    # Hydra and the ML stack (the CLI's --help and load_pretrained's users import it)
    from lalm_framework.api import compose
    from lalm_framework.compat.instantiate import instantiate
    from lalm_framework.config.store import register
    from lalm_framework.inference.pretrained import PretrainedLalm
    from lalm_framework.runner import run

# public name -> the module defining it (the object itself is re-exported, not wrapped)
_LAZY = {
    "compose": "lalm_framework.api",
    "run": "lalm_framework.runner",
    "instantiate": "lalm_framework.compat.instantiate",
    "register": "lalm_framework.config.store",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_pretrained(path: str, device: str = "cpu") -> PretrainedLalm:
    """A model exported by `lalm-export`, ready for `.transcribe([...])`: no Lightning, Hydra or pickle."""
    from lalm_framework.inference.pretrained import load_pretrained as _load

    return _load(path, device=device)


def short_errors() -> None:
    """Print config and data mistakes of this process's `@hydra.main` app as `lalm-train` does.

    One line before calling your app: the problem and the fix in a few lines, no traceback
    (HYDRA_FULL_ERROR=1 still shows it). Genuine crashes keep Hydra's own report.
    """
    from lalm_framework.cli.short_errors import install

    install()


__all__ = ["compose", "run", "instantiate", "register", "short_errors", "load_pretrained", "UserError", "__version__"]
