"""A minimal Hydra app for launcher tests: returns x * 10, or raises when fail=true.

Run as a script (`python toy_app.py -m hydra/launcher=lalm_slurm x=1,2`): no torch, so SLURM
jobs of it start in about a second. `sleep` keeps a job running that long; each task prints the
GPUs SLURM gave it (`CUDA_VISIBLE_DEVICES`) with its rank and node.
"""

import os
import time
from dataclasses import dataclass, field
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore


@dataclass
class ToyConfig:
    x: int = 0
    fail: bool = False
    sleep: float = 0.0
    # what the lalm_slurm launcher compares its request with (as in lalm-train's config)
    trainer: dict[str, Any] = field(default_factory=lambda: {"accelerator": "cpu", "devices": 1, "num_nodes": 1})


ConfigStore.instance().store(name="toy", node=ToyConfig)


@hydra.main(version_base="1.3", config_path=None, config_name="toy")
def main(cfg: ToyConfig) -> int:
    env = os.environ
    print(
        f"toy task: rank {env.get('SLURM_PROCID')} local {env.get('SLURM_LOCALID')} node {env.get('SLURMD_NODENAME')} "
        f"CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES', '')}",
        flush=True,
    )
    time.sleep(cfg.sleep)
    if cfg.fail:
        raise ValueError(f"boom at x={cfg.x}")
    return cfg.x * 10


if __name__ == "__main__":
    main()
