"""Tokens/s, samples/s and MFU of LALM training steps on one CUDA GPU (issue 22).

    python benchmarks/bench_gpu_step.py [--size 300m|1b] [--batch 8] [--steps 20] [--peak H100]

A random-init Whisper encoder + Llama, bf16, AdamW, one process on one GPU. MFU = model FLOPs
per step (`lalm_framework.utils.flops.train_step_flops`) / step time / the GPU's dense bf16 peak.
Refuses to run without CUDA.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from lalm_framework.utils.flops import PEAK_BF16_FLOPS, mfu, train_step_flops

SIZES = {
    # Whisper-small-sized encoder + a ~250M Llama
    "300m": (
        dict(d_model=768, encoder_layers=12, encoder_attention_heads=12, encoder_ffn_dim=3072),
        dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=16, num_attention_heads=16),
    ),
    "1b": (
        dict(d_model=1024, encoder_layers=24, encoder_attention_heads=16, encoder_ffn_dim=4096),
        dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=16, num_attention_heads=32),
    ),
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", choices=sorted(SIZES), default="300m")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--text-tokens", type=int, default=128)
    p.add_argument("--peak", choices=sorted(PEAK_BF16_FLOPS), default="H100")
    a = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("bench_gpu_step: no CUDA device (torch.cuda.is_available() is False); run it on a GPU machine.")
    from transformers import LlamaConfig, LlamaForCausalLM, WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    enc_kw, llm_kw = SIZES[a.size]
    enc_cfg = WhisperConfig(**enc_kw, vocab_size=8, decoder_layers=1, decoder_attention_heads=1)
    llm_cfg = LlamaConfig(**llm_kw, vocab_size=32000)
    dev, dt = torch.device("cuda"), torch.bfloat16
    encoder = WhisperEncoder(enc_cfg).to(dev, dt)
    llm = LlamaForCausalLM(llm_cfg).to(dev, dt)
    proj = torch.nn.Linear(enc_cfg.d_model, llm_cfg.hidden_size).to(dev, dt)
    params = [*encoder.parameters(), *llm.parameters(), *proj.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-5)
    mel = torch.randn(a.batch, enc_cfg.num_mel_bins, 3000, device=dev, dtype=dt)
    text = torch.randint(0, llm_cfg.vocab_size, (a.batch, a.text_tokens), device=dev)
    audio_tokens = 1500 // 4  # a 4x frame-stacking projector's output length

    def step() -> None:
        audio = encoder(mel).last_hidden_state[:, ::4]
        embeds = torch.cat([proj(audio), llm.get_input_embeddings()(text)], dim=1)
        labels = torch.cat([torch.full((a.batch, audio_tokens), -100, device=dev), text], dim=1)
        llm(inputs_embeds=embeds, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    times = []
    for i in range(a.steps + 3):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        if i >= 3:  # warm-up steps left out
            times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    flops = train_step_flops(llm_cfg, enc_cfg, a.batch, a.text_tokens, 3000, audio_tokens)
    tokens = a.batch * (audio_tokens + a.text_tokens)
    n_params = sum(x.numel() for x in params)
    print(f"{torch.cuda.get_device_name()}  size={a.size} batch={a.batch} params={n_params / 1e6:.0f}M")
    print(
        f"step {t * 1e3:.1f} ms  tokens/s {tokens / t:.0f}  samples/s {a.batch / t:.1f}  "
        f"MFU {mfu(flops, t, PEAK_BF16_FLOPS[a.peak]):.1%} (of {a.peak} {PEAK_BF16_FLOPS[a.peak] / 1e12:.0f} TFLOP/s)"
    )


if __name__ == "__main__":
    main()
