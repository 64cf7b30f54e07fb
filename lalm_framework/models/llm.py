"""The LLM decoder: AutoModelForCausalLM (pretrained, optionally 4-bit) or a tiny Llama, + LoRA."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from lalm_framework.models.loading import from_pretrained_or_error

log = logging.getLogger(__name__)

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def torch_dtype(name: str) -> torch.dtype:
    """`"bfloat16"` -> torch.bfloat16 (float32, bfloat16, float16 and their short names)."""
    try:
        return _DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; use one of {sorted(_DTYPES)}") from None


def build_llm(
    tokenizer: PreTrainedTokenizerBase,
    path: str | None = None,
    config: Mapping[str, Any] | None = None,
    dtype: str = "float32",
    quantization: Mapping[str, Any] | None = None,
    gradient_checkpointing: bool = False,
) -> PreTrainedModel:
    """A causal LM from `path` (local dir / hub id), or a random-init Llama from `config`.

    The vocabulary follows `tokenizer` (a pretrained model's embeddings grow if the tokenizer
    gained tokens such as the audio placeholder). `quantization.load_in_4bit` loads `path` in
    4-bit via bitsandbytes and prepares it for k-bit training (QLoRA).
    """
    quant = dict(quantization or {})
    if path:
        kwargs: dict = {"dtype": torch_dtype(dtype)}
        if quant.get("load_in_4bit"):
            kwargs["quantization_config"] = _bnb_config(quant)
        from transformers import AutoModelForCausalLM

        model = from_pretrained_or_error(AutoModelForCausalLM, path, "model.llm.path", **kwargs)
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        if quant.get("load_in_4bit"):
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    else:
        if quant.get("load_in_4bit"):
            raise ValueError(
                "model.llm.quantization.load_in_4bit needs a pretrained model.llm.path "
                "(bitsandbytes quantizes weights while loading them)"
            )
        from transformers import LlamaConfig, LlamaForCausalLM

        cfg = LlamaConfig(
            **{
                "vocab_size": len(tokenizer),
                "pad_token_id": tokenizer.pad_token_id,
                "bos_token_id": tokenizer.bos_token_id,
                "eos_token_id": tokenizer.eos_token_id,
                **dict(config or {}),
            }
        )
        model = LlamaForCausalLM(cfg).to(torch_dtype(dtype))
    if gradient_checkpointing and not quant.get("load_in_4bit"):
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    return model


def _bnb_config(quant: Mapping[str, Any]) -> Any:
    from transformers import BitsAndBytesConfig

    try:
        import bitsandbytes  # noqa: F401
    except ImportError as e:
        from lalm_framework.errors import UserError

        raise UserError(
            "model.llm.quantization.load_in_4bit=true needs bitsandbytes: pip install 'lalm-framework[qlora]'"
        ) from e
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant.get("quant_type", "nf4"),
        bnb_4bit_compute_dtype=torch_dtype(quant.get("compute_dtype", "float32")),
        bnb_4bit_use_double_quant=bool(quant.get("double_quant", True)),
    )


def add_lora(
    model: PreTrainedModel,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.05,
    target_modules: Any = "all-linear",
    modules_to_save: Sequence[str] | None = None,
) -> PreTrainedModel:
    """Wrap `model` with peft LoRA adapters; everything else is frozen except `modules_to_save`."""
    from peft import LoraConfig, get_peft_model

    if isinstance(target_modules, (list, tuple)):
        target_modules = list(target_modules)
    cfg = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        modules_to_save=list(modules_to_save) if modules_to_save else None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, cfg)
