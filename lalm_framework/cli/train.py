"""`lalm-train`: the Hydra app around the runner. Light at import: `--help` and `--cfg` stay fast."""
from __future__ import annotations

import os
from typing import Any, Optional

import hydra
from omegaconf import DictConfig

from lalm_framework.cli.errors import install as install_short_errors


@hydra.main(version_base="1.3", config_path=None, config_name="train")
def _train(cfg: DictConfig) -> Optional[float]:
    from lalm_framework.runner import run

    return run(cfg)


def main() -> Any:
    """Entry point of `lalm-train`."""
    if "LOCAL_RANK" in os.environ:  # a rank Lightning re-launched for multi-process training
        from lalm_framework.launching.ddp import maybe_run_ddp_child

        if maybe_run_ddp_child():
            return None
    install_short_errors()
    return _train()


if __name__ == "__main__":
    main()
