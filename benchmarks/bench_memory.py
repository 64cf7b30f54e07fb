"""Peak memory per rank and step time of DDP, FSDP and activation checkpointing, side by side (issue 22).

    python benchmarks/bench_memory.py [--scale full|small|tiny] [--steps 5] [--batch-size 2]

Four configurations, each in a fresh process that Lightning runs on 2 CPU ranks over gloo
(OMP_NUM_THREADS=1 per rank): DDP; DDP + encoder and LLM checkpointing; FSDP full shard; FSDP +
checkpointing. The model is `model=tiny` composed as `lalm-train` composes it, with the encoder
and LLM sizes of `--scale` (full: a Whisper-small-sized encoder + a ~230M Llama, ~315M
parameters, tiny vocabulary; random weights), trained on the same real speech batches of
`dataset=sample` (one per rank, the same every step), fp32 unless the CPU has bf16 instructions.

Memory, per rank, from the kernel's RSS counters (the peak reset before each step through
/proc/self/clear_refs):
- state = RSS at the start of steps 2.. minus a baseline: the RSS just before the Trainer is made
  (imports, data, the built model) less the model's parameter bytes. That is the parameters (a
  shard under FSDP), gradients (and DDP's gradient buckets) and optimizer state: what stays
  between steps;
- activations = peak RSS during a step minus RSS at its start (the largest over steps 2..), i.e.
  what a step adds while it runs.
Step time: median of steps 2.. on rank 0. Loss: rank 0's training loss at the last step.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# encoder / LLM sizes over `model=tiny` (tiny: the config as it is)
SCALES: dict[str, dict[str, Any]] = {
    "tiny": {},
    "small": {
        "encoder": dict(d_model=256, encoder_layers=4, encoder_attention_heads=4, encoder_ffn_dim=1024),
        "llm": dict(hidden_size=384, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=6),
    },
    "full": {  # Whisper-small's encoder; a Llama of ~230M (tiny vocabulary)
        "encoder": dict(d_model=768, encoder_layers=12, encoder_attention_heads=12, encoder_ffn_dim=3072),
        "llm": dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=18, num_attention_heads=16),
    },
}
CONFIGS: dict[str, list[str]] = {
    "ddp": ["trainer=ddp"],
    "ddp+ckpt": ["trainer=ddp", "model.encoder.gradient_checkpointing=true", "model.llm.gradient_checkpointing=true"],
    "fsdp": ["trainer=fsdp"],
    "fsdp+ckpt": ["trainer=fsdp", "model.encoder.gradient_checkpointing=true", "model.llm.gradient_checkpointing=true"],
}


def rss_mb() -> float:
    """Resident set size of this process now, MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak() -> None:
    """Set this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_mb() -> float:
    """Peak RSS of this process since the last `reset_peak`, MiB."""
    with open("/proc/self/status") as f:
        found = re.search(r"VmHWM:\s+(\d+) kB", f.read())
    assert found, "no VmHWM in /proc/self/status"
    return int(found.group(1)) / 1024


def overrides(config: str, scale: str, batch_size: int) -> list[str]:
    """`lalm-train` overrides of one configuration at one scale."""
    sizes = SCALES[scale]
    extra = [f"model.{part}.config.{k}={v}" for part in ("encoder", "llm") for k, v in sizes.get(part, {}).items()]
    if "llm" in sizes:
        extra.append(f"model.llm.config.num_key_value_heads={sizes['llm']['num_attention_heads']}")
    return [
        "model=tiny",
        "dataset=sample",
        f"dataset.batch_size={batch_size}",
        "model.spec_augment.freq_masks=0",  # the same features in every configuration and step
        "model.spec_augment.time_masks=0",
        *CONFIGS[config],
        *extra,
    ]


def worker(config: str, scale: str, steps: int, batch_size: int, out: Path) -> None:
    """One configuration, one rank (Lightning starts rank 1 as this script again): writes `out`.rankN."""
    import pytorch_lightning as pl
    import torch
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate
    from torch.utils.data import DataLoader

    with initialize_config_module("lalm_framework.conf", version_base="1.3"):
        cfg = compose("train", overrides=overrides(config, scale, batch_size))
    pl.seed_everything(42, verbose=False)
    module = instantiate(cfg.model)
    dtype = torch.bfloat16 if _cpu_has_bf16() else torch.float32
    module.to(dtype)
    dm = instantiate(cfg.dataset, tokenizer=module.tokenizer, feature_extractor=module.feature_extractor)
    dm.setup("fit")
    loader = iter(dm.train_dataloader())
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    batch = [next(loader) for _ in range(rank + 1)][rank]  # rank r: batch r of the same order
    batch = {k: v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in batch.items()}
    n_params = sum(p.numel() for p in module.parameters())
    # the process before the Trainer, less the model's weights it holds then (all of them, on every rank)
    rss_base = rss_mb() - sum(p.numel() * p.element_size() for p in module.parameters()) / 2**20
    records: list[dict[str, float]] = []

    class Meter(pl.Callback):
        def on_train_batch_start(self, *a: Any) -> None:
            self.start = rss_mb()
            reset_peak()
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, *a: Any) -> None:
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            seconds = time.perf_counter() - self.t0
            records.append(dict(start=self.start, peak=peak_mb(), seconds=seconds, loss=float(loss)))

    strategy = cfg.trainer.strategy
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy=strategy if isinstance(strategy, str) else instantiate(strategy),
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # each rank trains on its own fixed batch
        callbacks=[Meter()],
    )
    trainer.fit(module, train_dataloaders=DataLoader(cast(Any, [batch] * steps), batch_size=None))
    result = dict(
        rank=rank,
        params=n_params,
        dtype=str(dtype).removeprefix("torch."),
        rss_base=rss_base,
        steps=records,
    )
    Path(f"{out}.rank{rank}").write_text(json.dumps(result))


def _cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX); without, bf16 is emulated and slow."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def summarise(ranks: list[dict[str, Any]]) -> dict[str, float]:
    """Per-rank memory (the larger rank), rank 0's step time and last loss."""
    later = [r["steps"][1:] or r["steps"] for r in ranks]
    state = max(min(s["start"] for s in steps) - r["rss_base"] for r, steps in zip(ranks, later, strict=True))
    activations = max(max(s["peak"] - s["start"] for s in steps) for steps in later)
    peak = max(max(s["peak"] for s in r["steps"]) for r in ranks)
    r0 = next(r for r in ranks if r["rank"] == 0)
    return dict(
        state=state,
        activations=activations,
        peak=peak,
        seconds=statistics.median(s["seconds"] for s in (r0["steps"][1:] or r0["steps"])),
        loss=r0["steps"][-1]["loss"],
        params=r0["params"],
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", choices=sorted(SCALES), default="full", help="model size (full: ~315M parameters)")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=2, help="utterances per rank")
    p.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    p.add_argument("--worker", choices=list(CONFIGS), help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        worker(a.worker, a.scale, a.steps, a.batch_size, a.out)
        return
    if "ddp" not in a.configs:
        p.error("--configs must include ddp, the baseline")
    results: dict[str, dict[str, float]] = {}
    dtype = "?"
    with tempfile.TemporaryDirectory() as tmp:
        for config in a.configs:
            out = Path(tmp) / config
            cmd = [sys.executable, __file__, "--worker", config, "--out", str(out)]
            cmd += ["--scale", a.scale, "--steps", str(a.steps), "--batch-size", str(a.batch_size)]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            ranks = [json.loads(f.read_text()) for f in sorted(Path(tmp).glob(f"{config}.rank*"))]
            dtype = ranks[0]["dtype"]
            results[config] = summarise(ranks)
            print(f"[{config}: {time.perf_counter() - t0:.0f} s]", file=sys.stderr)
    base = results["ddp"]
    print(
        f"\nscale={a.scale} params={base['params'] / 1e6:.1f}M dtype={dtype} batch={a.batch_size}/rank "
        f"x 2 ranks (gloo) steps={a.steps}; memory MiB per rank (the larger rank)"
    )
    header = f"{'config':<10} {'state':>8} {'activ.':>8} {'peak':>8} {'step s':>8} {'loss':>10}"
    header += f" | {'state/ddp':>9} {'act/ddp':>8} {'time/ddp':>8} {'loss rel.diff':>13}"
    print(header)
    for config, r in results.items():
        rel = abs(r["loss"] - base["loss"]) / abs(base["loss"])
        print(
            f"{config:<10} {r['state']:>8.0f} {r['activations']:>8.0f} {r['peak']:>8.0f} {r['seconds']:>8.2f} "
            f"{r['loss']:>10.6f} | {r['state'] / base['state']:>9.2f} {r['activations'] / base['activations']:>8.2f} "
            f"{r['seconds'] / base['seconds']:>8.2f} {rel:>13.1e}"
        )
    print("\ngoals:")
    for name, ok in goals(results).items():
        print(f"  {'met    ' if ok else 'NOT met'}  {name}")


def goals(results: dict[str, dict[str, float]]) -> dict[str, bool]:
    """Issue 22's three goals, each against the DDP baseline (only for the configurations run)."""
    base, out = results["ddp"], {}
    for ckpt, ref in (("ddp+ckpt", "ddp"), ("fsdp+ckpt", "fsdp")):
        if ckpt in results and ref in results:
            r, b = results[ckpt], results[ref]
            out[f"{ckpt}: activations <= 0.6x {ref}'s at <= 1.4x step time"] = (
                r["activations"] <= 0.6 * b["activations"] and r["seconds"] <= 1.4 * b["seconds"]
            )
    if "fsdp" in results:
        out["fsdp: state (params+grads+optimizer) <= 0.6x ddp's per rank"] = (
            results["fsdp"]["state"] <= 0.6 * base["state"]
        )
    for config, r in results.items():
        if config != "ddp":
            out[f"{config}: last loss equals ddp's to 1e-4 relative"] = abs(r["loss"] - base["loss"]) <= 1e-4 * abs(
                base["loss"]
            )
    return out


if __name__ == "__main__":
    main()
