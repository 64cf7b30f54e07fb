"""Whether a trainer strategy can serve the job's model, checked before any job starts.

FSDP (`trainer=fsdp`, `trainer.strategy=fsdp`) shards floating-point weights; what it cannot
serve here is refused with the fix, instead of failing inside the ranks after start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lalm_framework.errors import UserError

FSDP_TARGET = "lalm_framework.trainer_addons.fsdp.LalmFSDPStrategy"
# Lightning's registered names of its FSDP strategy; the runner builds ours for them
FSDP_NAMES = ("fsdp", "fsdp_cpu_offload")
SHARDING_STRATEGIES = ("FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD", "_HYBRID_SHARD_ZERO2")
MIXED_PRECISION_KEYS = ("param_dtype", "reduce_dtype", "buffer_dtype")
DTYPES = ("float32", "bfloat16", "float16")


def is_fsdp(strategy: Any) -> bool:
    """Whether a `trainer.strategy` value (a name or a `_target_` node) is FSDP.

    >>> is_fsdp("fsdp"), is_fsdp({"_target_": FSDP_TARGET}), is_fsdp("ddp")
    (True, True, False)
    """
    if isinstance(strategy, str):
        return strategy.lower() in FSDP_NAMES
    if not isinstance(strategy, Mapping):
        return False
    target = strategy.get("_target_")
    if target == FSDP_TARGET:
        return True
    if not isinstance(target, str) or "fsdp" not in target.lower():
        return False
    from hydra.utils import get_class
    from pytorch_lightning.strategies import FSDPStrategy

    try:
        return issubclass(get_class(target), FSDPStrategy)
    except Exception:  # not importable: instantiation names that itself
        return False


def check_strategy(cfg: DictConfig) -> None:
    """Raise UserError for a strategy option or model the FSDP strategy cannot serve."""
    strategy = OmegaConf.to_container(cfg.trainer, resolve=True).get("strategy")  # type: ignore[union-attr]
    if not is_fsdp(strategy):
        return
    if isinstance(strategy, Mapping):
        _check_fsdp_options(strategy)
    four_bit = OmegaConf.select(cfg, "model.llm.quantization.load_in_4bit", default=None) or OmegaConf.select(
        cfg, "model.params.llm.quantization.load_in_4bit", default=None
    )
    if four_bit:
        raise UserError(
            "trainer=fsdp with model.llm.quantization.load_in_4bit=true: bitsandbytes 4-bit weights are "
            "not sharded by lalm-train's FSDP (QLoRA under FSDP is not supported).\n"
            "Train QLoRA with trainer=ddp (or trainer=gpu), or shard the LLM unquantized: "
            "model.llm.quantization.load_in_4bit=false model.llm.dtype=bfloat16."
        )


def _check_fsdp_options(strategy: Mapping[str, Any]) -> None:
    if "state_dict_type" in strategy:
        raise UserError(
            f"trainer.strategy.state_dict_type={strategy['state_dict_type']}: lalm-train's FSDP always writes full "
            "checkpoints (one .ckpt gathered on rank 0: written atomically, read by resume, lalm-export and "
            "lalm-infer).\nRemove trainer.strategy.state_dict_type."
        )
    sharding = strategy.get("sharding_strategy", "FULL_SHARD")
    if sharding not in SHARDING_STRATEGIES:
        raise UserError(
            f"trainer.strategy.sharding_strategy={sharding} is not one of FSDP's: {', '.join(SHARDING_STRATEGIES)}."
        )
    precision = strategy.get("mixed_precision")
    if isinstance(precision, Mapping):
        for key, value in precision.items():
            if key not in MIXED_PRECISION_KEYS:
                raise UserError(
                    f"trainer.strategy.mixed_precision.{key}: unknown key; use {', '.join(MIXED_PRECISION_KEYS)}."
                )
            if value is not None and value not in DTYPES:
                raise UserError(
                    f"trainer.strategy.mixed_precision.{key}={value}: use one of {', '.join(DTYPES)} (or null)."
                )
    elif precision is not None:
        raise UserError(
            f"trainer.strategy.mixed_precision={precision}: give dtype names, e.g. "
            "trainer.strategy.mixed_precision={param_dtype:bfloat16,reduce_dtype:float32}, or null "
            "(trainer.precision decides)."
        )
