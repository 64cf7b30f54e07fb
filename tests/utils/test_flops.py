"""The FLOP count behind `benchmarks/bench_gpu_step.py`'s MFU, against a hand count for a tiny model."""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM, WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from lalm_framework.utils.flops import (
    llm_forward_flops,
    mfu,
    train_step_flops,
    whisper_encoder_forward_flops,
)

LLAMA = LlamaConfig(
    hidden_size=16,
    intermediate_size=24,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=32,
)
WHISPER = WhisperConfig(
    d_model=8,
    encoder_ffn_dim=12,
    encoder_layers=2,
    encoder_attention_heads=2,
    num_mel_bins=4,
    max_source_positions=5,
    vocab_size=8,
    decoder_layers=1,
    decoder_attention_heads=1,
)


def _linear_weights(module: torch.nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, torch.nn.Linear))


def test_llm_flops_match_hand_count_and_real_llama() -> None:
    # per layer: q 16x16 + k,v 2x(16x8) + o 16x16 + gate/up/down 3x(16x24) = 1920 weights
    # 2 layers x (2 x 6 tokens x 1920 + 2 x (QK^T, AV: 2 x 6 x 6 x 16)) + LM head 2 x 6 x 16 x 32
    hand = 2 * (2 * 6 * 1920 + 2 * 2 * 6 * 6 * 16) + 2 * 6 * 16 * 32
    assert llm_forward_flops(LLAMA, tokens=6) == hand == 56_832
    # the weights it counts are the real model's matmul weights (lm_head untied)
    model = LlamaForCausalLM(LLAMA)
    assert _linear_weights(model) == 2 * 1920 + 16 * 32


def test_whisper_encoder_flops_match_hand_count_and_real_encoder() -> None:
    # conv1 (4 mels -> 8, k=3) on 10 frames, conv2 (8 -> 8, k=3, stride 2) on 5 frames
    convs = 2 * 10 * 4 * 8 * 3 + 2 * 5 * 8 * 8 * 3
    # per layer, 5 frames: q,k,v,o 4x(8x8) + fc1,fc2 2x(8x12), attention 2 x 2 x 5 x 5 x 8
    per_layer = 2 * 5 * (4 * 64 + 2 * 96) + 2 * 2 * 5 * 5 * 8
    assert whisper_encoder_forward_flops(WHISPER, mel_frames=10) == convs + 2 * per_layer == 14_400
    encoder = WhisperEncoder(WHISPER)
    assert _linear_weights(encoder) == 2 * (4 * 64 + 2 * 96)
    out = encoder(torch.zeros(1, 4, 10)).last_hidden_state
    assert out.shape[1] == 5  # the frame count the attention term uses


def test_train_step_is_three_forwards_per_sample_and_mfu() -> None:
    step = train_step_flops(LLAMA, WHISPER, batch=2, text_tokens=3, mel_frames=10, projector_out_tokens=3)
    assert step == 3 * 2 * (14_400 + 56_832)
    assert mfu(989e12, 2.0, 989e12) == 0.5
