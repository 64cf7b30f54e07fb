"""The LLM decoder: AutoModelForCausalLM (pretrained, optionally 4-bit) or a tiny Llama, + LoRA."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from lalm_framework.errors import UserError
from lalm_framework.models.pretrained_parts import from_pretrained_or_error
from lalm_framework.models.schema import LlmConfig, LoraConfig, QuantizationConfig, part_config

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


def check_quantization(cfg: LlmConfig) -> None:
    """4-bit loading quantizes pretrained weights while loading them: it needs `llm.path`."""
    if cfg.quantization.load_in_4bit and not cfg.path:
        raise UserError(
            "model.llm.quantization.load_in_4bit=true needs a pretrained model.llm.path "
            "(bitsandbytes quantizes weights while loading them)."
        )


def build_llm(
    tokenizer: PreTrainedTokenizerBase, cfg: LlmConfig | Mapping[str, Any] | None = None, **fields: Any
) -> Any:
    """A causal LM from `cfg.path` (local dir / hub id), or a random-init Llama from `cfg.config`.

    `cfg`: an `LlmConfig`, a mapping of its fields, or the fields as keywords
    (`build_llm(tok, path=None, config={"hidden_size": 32}, freeze=False)`).

    The vocabulary follows `tokenizer` (a pretrained model's embeddings grow if the tokenizer
    gained tokens such as the audio placeholder). `quantization.load_in_4bit` loads `path` in
    4-bit via bitsandbytes and prepares it for k-bit training (QLoRA).
    """
    cfg = part_config(LlmConfig, cfg, fields, "llm")
    check_quantization(cfg)
    four_bit = cfg.quantization.load_in_4bit
    model: Any
    if cfg.path:
        kwargs: dict[str, Any] = {"dtype": torch_dtype(cfg.dtype)}
        if four_bit:
            kwargs["quantization_config"] = _bnb_config(cfg.quantization)
        from transformers import AutoModelForCausalLM

        model = from_pretrained_or_error(AutoModelForCausalLM, cfg.path, "model.llm.path", **kwargs)
        grow_vocabulary(model, len(tokenizer))
        if four_bit:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]  # peft: unannotated
                model, use_gradient_checkpointing=cfg.gradient_checkpointing
            )
    else:
        from transformers import LlamaConfig, LlamaForCausalLM

        llama = LlamaConfig(
            **{
                "vocab_size": len(tokenizer),
                "pad_token_id": tokenizer.pad_token_id,
                "bos_token_id": tokenizer.bos_token_id,
                "eos_token_id": tokenizer.eos_token_id,
                **cfg.config,
            }
        )
        # transformers' `to` overloads confuse mypy (it expects a model as first argument)
        model = LlamaForCausalLM(llama).to(torch_dtype(cfg.dtype))  # type: ignore[arg-type]
    if cfg.gradient_checkpointing and not four_bit:
        from lalm_framework.models.activation_checkpointing import enable_activation_checkpointing

        enable_activation_checkpointing(model)
        model.enable_input_require_grads()
    if cfg.freeze:
        for p in model.parameters():
            p.requires_grad_(False)
    return model


def grow_vocabulary(model: Any, size: int) -> None:
    """Grow the embeddings to `size` tokens; new rows are the mean of the old ones.

    Deterministic on purpose: a frozen pretrained LLM's rows are not saved in checkpoints or
    exports (they reload from the base), so a rebuild must give the very same rows.
    """
    old = model.get_input_embeddings().num_embeddings
    if size <= old:
        return
    model.resize_token_embeddings(size, mean_resizing=False)
    with torch.no_grad():
        for emb in (model.get_input_embeddings(), model.get_output_embeddings()):
            if emb is not None and emb.weight.shape[0] == size:
                emb.weight[old:] = emb.weight[:old].mean(0, keepdim=True)


def _bnb_config(quant: QuantizationConfig) -> Any:
    from transformers import BitsAndBytesConfig

    try:
        import bitsandbytes  # noqa: F401
    except ImportError as e:
        raise UserError(
            "model.llm.quantization.load_in_4bit=true needs bitsandbytes: pip install 'lalm-framework[qlora]'"
        ) from e
    return BitsAndBytesConfig(  # type: ignore[no-untyped-call]  # transformers leaves it unannotated
        load_in_4bit=True,
        bnb_4bit_quant_type=quant.quant_type,
        bnb_4bit_compute_dtype=torch_dtype(quant.compute_dtype),
        bnb_4bit_use_double_quant=quant.double_quant,
    )


def add_lora(model: Any, cfg: LoraConfig | Mapping[str, Any] | None = None, **fields: Any) -> Any:
    """Wrap `model` with peft LoRA adapters; everything else is frozen except `modules_to_save`.

    `cfg`: a `LoraConfig`, a mapping of its fields, or the fields as keywords (`add_lora(llm, r=4, alpha=8)`).
    """
    cfg = part_config(LoraConfig, cfg, fields, "lora")
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    target = list(cfg.target_modules) if isinstance(cfg.target_modules, (list, tuple)) else cfg.target_modules
    peft_cfg = PeftLoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=target,
        modules_to_save=list(cfg.modules_to_save) if cfg.modules_to_save else None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_cfg)


def is_adapter_key(llm: Any, key: str) -> bool:
    """Whether `key` (of `llm.state_dict()`) is a weight of a peft adapter: LoRA matrices or a
    `modules_to_save` copy. peft keeps every such weight under its adapter's name (`.default.`)."""
    from peft import PeftModel

    return isinstance(llm, PeftModel) and any(f".{name}." in key for name in llm.peft_config)


def load_adapter(llm: Any, adapter: Path, where: str) -> None:
    """Load the weights of a peft adapter folder (peft's `save_pretrained`) into `llm`'s LoRA layers.

    `where` names the adapter in messages (e.g. "--adapter DIR").
    """
    from peft import PeftModel
    from peft.utils import load_peft_weights, set_peft_model_state_dict

    if not isinstance(llm, PeftModel):
        raise UserError(f"{where}: this model has no LoRA layers (it was trained with model.lora.enabled=false).")
    if not adapter.is_dir():
        raise UserError(
            f"{where}: not a directory; give the folder holding adapter_config.json and adapter_model.safetensors."
        )
    if not (adapter / "adapter_model.safetensors").is_file():
        raise UserError(
            f"{where}: no adapter_model.safetensors in it (adapters saved as pickles, adapter_model.bin, "
            "are not read: they can run code). Save the adapter with safe_serialization=True."
        )
    try:
        result = set_peft_model_state_dict(llm, load_peft_weights(str(adapter), device="cpu"))
    except RuntimeError as e:  # torch's size-mismatch report, one line per weight
        lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
        raise UserError(
            f"{where} does not fit this model ({lines[1] if len(lines) > 1 else lines[0]}); "
            "was it trained with another LoRA config or base model?"
        ) from None
    unexpected = list(getattr(result, "unexpected_keys", None) or [])
    if unexpected:
        raise UserError(
            f"{where} does not fit this model (unexpected weights such as {unexpected[0]}); "
            "was it trained with another LoRA config?"
        )
