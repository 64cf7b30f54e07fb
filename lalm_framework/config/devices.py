"""Whether this machine has the GPUs a trainer config asks for, checked before a job starts.

Lightning finds out only while it builds the Trainer (`No supported gpu backend found!`); this
says what is missing (no GPU visible, fewer than asked) and the fix, in the job's validation. A
sweep submitted to SLURM is checked where it runs (in the job), not on the submitting machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from lalm_framework.errors import UserError

GPU_ACCELERATORS = ("gpu", "cuda")
# Lightning runs these strategies on CUDA devices only, whatever the accelerator says (FSDP runs
# on CPUs too, over gloo: trainer=fsdp with trainer.accelerator=cpu)
GPU_ONLY_STRATEGIES = ("deepspeed",)


def gpus_needed(trainer: Mapping[str, Any]) -> int | None:
    """How many CUDA devices `trainer` (a trainer config) needs here; None when it needs none.

    >>> gpus_needed({"accelerator": "gpu", "devices": 2}), gpus_needed({"accelerator": "cpu", "devices": 2})
    (2, None)
    """
    accelerator = str(trainer.get("accelerator") or "auto").lower()
    strategy = trainer.get("strategy")
    gpu_strategy = isinstance(strategy, str) and strategy.lower().startswith(GPU_ONLY_STRATEGIES)
    if accelerator not in GPU_ACCELERATORS and not (accelerator == "auto" and gpu_strategy):
        return None
    return _device_count(trainer.get("devices", "auto"))


def _device_count(devices: Any) -> int:
    """GPUs a Lightning `devices` value asks for; 1 for "auto"/-1 (at least one must be visible)."""
    if isinstance(devices, str):
        text = devices.strip()
        if text in ("auto", "-1", ""):
            return 1
        if "," in text:
            return len([d for d in text.split(",") if d.strip()])
        return max(int(text), 1) if text.isdigit() else 1
    if isinstance(devices, int) and not isinstance(devices, bool):
        return devices if devices > 0 else 1
    if isinstance(devices, (list, tuple)) or hasattr(devices, "__len__"):
        return max(len(devices), 1)
    return 1


def check_gpus(trainer: Mapping[str, Any], where: str = "trainer") -> None:
    """Raise UserError when `trainer` needs more CUDA devices than this process can see.

    Skipped on a machine that only submits the job elsewhere (a SLURM launcher outside a SLURM job).
    """
    needed = gpus_needed(trainer)
    if needed is None or _submits_elsewhere():
        return
    import torch

    visible = torch.cuda.device_count()
    if visible >= needed:
        return
    accelerator = str(trainer.get("accelerator") or "auto")
    needs = (
        f"{where}.accelerator={accelerator}"
        if accelerator.lower() in GPU_ACCELERATORS
        else f"{where}.strategy={trainer.get('strategy')}"
    )
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    seen = "CUDA_VISIBLE_DEVICES is not set" if env is None else f"CUDA_VISIBLE_DEVICES={env!r}"
    build = (
        f"torch {torch.__version__} is a CPU-only build" if torch.version.cuda is None else "check the NVIDIA driver"
    )
    if visible == 0:
        raise UserError(
            f"{needs} needs a GPU, but no GPU is visible to this process"
            f" ({seen}; {build}).\n"
            "Train on the CPU with trainer=cpu (or trainer.accelerator=cpu), or run on a machine with a GPU."
        )
    raise UserError(
        f"{where} asks for {needed} GPUs (devices={trainer.get('devices')}), but {visible} is/are visible ({seen}).\n"
        f"Use {where}.devices={visible} (or fewer), or make more GPUs visible."
    )


def _submits_elsewhere() -> bool:
    from hydra.core.hydra_config import HydraConfig

    from lalm_framework.launching.slurm.resources import is_slurm_launcher

    if not HydraConfig.initialized() or os.environ.get("SLURM_JOB_ID"):
        return False
    return is_slurm_launcher(HydraConfig.get().launcher)
