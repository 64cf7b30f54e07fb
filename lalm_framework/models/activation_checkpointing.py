"""Activation checkpointing of a transformers part: each layer's activations recomputed in backward.

One mechanism under DDP and FSDP alike: transformers' own per-layer checkpointing, non-reentrant
(torch's recommended form; it works inside FSDP units, with frozen inputs and with LoRA). The
encoder and the LLM each switch it on alone (`model.encoder.gradient_checkpointing`,
`model.llm.gradient_checkpointing`).
"""

from __future__ import annotations

from typing import Any


def enable_activation_checkpointing(model: Any) -> None:
    """Checkpoint every layer of `model` (a transformers `PreTrainedModel`).

    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> llama = LlamaForCausalLM(LlamaConfig(hidden_size=8, intermediate_size=8, num_hidden_layers=1,
    ...     num_attention_heads=2, num_key_value_heads=2, vocab_size=16))
    >>> enable_activation_checkpointing(llama); llama.model.gradient_checkpointing
    True
    """
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x; the old name warns
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
