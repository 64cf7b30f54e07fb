"""Tokens/s, samples/s and MFU of LALM training steps on one CUDA GPU (issue 22).

    python benchmarks/bench_gpu_step.py [--size 300m|1b] [--batch 8] [--steps 20] [--peak H100] \
        [--strategy single|ddp|fsdp] [--devices N]

A random-init Whisper encoder + Llama, bf16, AdamW. `single`: one process on one GPU; `ddp` /
`fsdp`: Lightning Fabric's DDP / FSDP strategy (full shard, one unit per transformer layer as
`trainer=fsdp` wraps them) on `--devices` GPUs of this machine (default: all), `--batch` per GPU.
MFU = model FLOPs per step and GPU (`lalm_framework.utils.flops.train_step_flops`) / step time /
the GPU's dense bf16 peak. Refuses to run without CUDA.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from lalm_framework.utils.flops import PEAK_BF16_FLOPS, mfu, train_step_flops

SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
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
    p.add_argument("--strategy", choices=["single", "ddp", "fsdp"], default="single")
    p.add_argument("--devices", type=int, default=None, help="GPUs for ddp/fsdp (default: all visible)")
    a = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("bench_gpu_step: no CUDA device (torch.cuda.is_available() is False); run it on a GPU machine.")
    if a.strategy == "single":
        if a.devices not in (None, 1):
            p.error("--strategy single runs on one GPU; use --strategy ddp or fsdp for --devices > 1")
        a.devices = 1
    devices = a.devices or torch.cuda.device_count()
    if devices > torch.cuda.device_count():
        sys.exit(
            f"bench_gpu_step: --devices {devices} but this machine has {torch.cuda.device_count()} CUDA device(s)."
        )
    from transformers import LlamaConfig, LlamaForCausalLM, WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from lalm_framework.trainer_addons.fsdp import layer_classes

    enc_kw, llm_kw = SIZES[a.size]
    enc_cfg = WhisperConfig(**enc_kw, vocab_size=8, decoder_layers=1, decoder_attention_heads=1)
    llm_cfg = LlamaConfig(**llm_kw, vocab_size=32000)
    dt = torch.bfloat16  # the weights: Fabric's bf16-true
    audio_tokens = 1500 // 4  # a 4x frame-stacking projector's output length

    class Lalm(torch.nn.Module):
        """Encoder -> projector -> LLM, the loss in `forward` (FSDP gathers a unit's weights there)."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = WhisperEncoder(enc_cfg)
            self.llm = LlamaForCausalLM(llm_cfg)
            self.proj = torch.nn.Linear(enc_cfg.d_model, llm_cfg.hidden_size)

        def forward(self, mel: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
            audio = self.encoder(mel).last_hidden_state[:, ::4]
            embeds = torch.cat([self.proj(audio), self.llm.get_input_embeddings()(text)], dim=1)
            labels = torch.cat([torch.full((len(text), audio_tokens), -100, device=text.device), text], dim=1)
            loss: torch.Tensor = self.llm(inputs_embeds=embeds, labels=labels).loss
            return loss

    with torch.device("meta"):  # the layer classes, without allocating the model
        layers = layer_classes(Lalm())
    fabric = _fabric(a.strategy, devices, layers)
    with fabric.init_module():
        model = Lalm()
    n_params = sum(x.numel() for x in model.parameters())  # before sharding
    model = fabric.setup_module(model)
    opt = fabric.setup_optimizers(torch.optim.AdamW(model.parameters(), lr=1e-5))
    dev = fabric.device
    mel = torch.randn(a.batch, enc_cfg.num_mel_bins, 3000, device=dev, dtype=dt)
    text = torch.randint(0, llm_cfg.vocab_size, (a.batch, a.text_tokens), device=dev)

    def step() -> None:
        fabric.backward(model(mel, text))
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
    times = [max(ts) for ts in zip(*fabric.all_gather(torch.tensor(times)).view(devices, -1).tolist(), strict=True)]
    t = statistics.median(times)
    flops = train_step_flops(llm_cfg, enc_cfg, a.batch, a.text_tokens, 3000, audio_tokens)
    tokens = devices * a.batch * (audio_tokens + a.text_tokens)
    fabric.print(
        f"{torch.cuda.get_device_name()}  size={a.size} strategy={a.strategy} devices={devices} "
        f"batch={a.batch}/GPU params={n_params / 1e6:.0f}M"
    )
    fabric.print(
        f"step {t * 1e3:.1f} ms  tokens/s {tokens / t:.0f}  samples/s {devices * a.batch / t:.1f}  "
        f"MFU {mfu(flops, t, PEAK_BF16_FLOPS[a.peak]):.1%} (of {a.peak} {PEAK_BF16_FLOPS[a.peak] / 1e12:.0f} TFLOP/s)"
    )


def _fabric(strategy: str, devices: int, layers: set[type[Any]]) -> Any:
    """A launched Lightning Fabric on `devices` GPUs, bf16: one process, DDP, or FSDP, one unit per `layers` class."""
    from lightning_fabric import Fabric
    from lightning_fabric.strategies.ddp import DDPStrategy
    from lightning_fabric.strategies.fsdp import FSDPStrategy
    from lightning_fabric.strategies.single_device import SingleDeviceStrategy

    if strategy == "fsdp":
        chosen: Any = FSDPStrategy(auto_wrap_policy=layers)
    elif strategy == "ddp":
        chosen = DDPStrategy()
    else:
        import torch

        chosen = SingleDeviceStrategy(device=torch.device("cuda", 0))
    fabric = Fabric(accelerator="cuda", devices=devices, strategy=chosen, precision="bf16-true")
    fabric.launch()
    return fabric


if __name__ == "__main__":
    main()
