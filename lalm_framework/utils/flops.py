"""Model FLOPs of one training step of a LALM (Whisper encoder + projector + Llama-like LLM).

Counts matrix multiplies only (2 FLOPs per multiply-add), forward x 3 for forward + backward, as
MFU is usually defined (PaLM, appendix B). Reads plain config attributes, so it needs no torch:

>>> from types import SimpleNamespace as C
>>> llm = C(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
...         num_key_value_heads=2, vocab_size=10)
>>> llm_forward_flops(llm, tokens=4)
6272
"""

from __future__ import annotations

from typing import Any

# dense bf16 peaks (no sparsity), FLOP/s
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def llm_forward_flops(cfg: Any, tokens: int) -> int:
    """Forward FLOPs of a Llama-like decoder (incl. the LM head) on one sequence of `tokens`."""
    d, ff, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or d // heads
    kv = (getattr(cfg, "num_key_value_heads", None) or heads) * head_dim
    per_layer_weights = d * heads * head_dim + 2 * d * kv + heads * head_dim * d + 3 * d * ff
    attention = 2 * tokens * tokens * heads * head_dim  # QK^T and AV, full (unmasked) square
    return int(layers * (2 * tokens * per_layer_weights + 2 * attention) + 2 * tokens * d * cfg.vocab_size)


def whisper_encoder_forward_flops(cfg: Any, mel_frames: int) -> int:
    """Forward FLOPs of a Whisper encoder on one input of `mel_frames` (3000 for 30 s)."""
    d, ff, layers, mels = cfg.d_model, cfg.encoder_ffn_dim, cfg.encoder_layers, cfg.num_mel_bins
    frames = (mel_frames + 1) // 2  # conv2 has stride 2
    convs = 2 * mel_frames * mels * d * 3 + 2 * frames * d * d * 3
    per_layer = 2 * frames * (4 * d * d + 2 * d * ff) + 2 * 2 * frames * frames * d
    return int(convs + layers * per_layer)


def train_step_flops(
    llm_cfg: Any, encoder_cfg: Any, batch: int, text_tokens: int, mel_frames: int, projector_out_tokens: int
) -> int:
    """FLOPs of one training step (forward + backward = 3 x forward) of the whole LALM on `batch` samples.

    The LLM sees `projector_out_tokens` audio positions + `text_tokens`; the projector's linear
    layers are left out (under 1% at any real size).
    """
    per_sample = whisper_encoder_forward_flops(encoder_cfg, mel_frames) + llm_forward_flops(
        llm_cfg, projector_out_tokens + text_tokens
    )
    return 3 * batch * per_sample


def mfu(step_flops: float, step_seconds: float, peak_flops: float) -> float:
    """Model FLOPs utilisation: achieved FLOP/s over the device's peak."""
    return step_flops / step_seconds / peak_flops
