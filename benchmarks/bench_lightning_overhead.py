"""Lightning's per-step overhead on the tiny LALM, against a raw PyTorch loop, side by side.

    OMP_NUM_THREADS=1 python benchmarks/bench_lightning_overhead.py [--steps 30] [--rounds 5] \
        [--bar config|lightning|none]

Both sides train the same `model=tiny` (composed like `lalm-train` does) on the same real
speech batch of `dataset=sample`, with the module's own optimizer and LR schedule. Rounds
alternate raw / Lightning so that load from other processes hits both alike; the result is
the ratio of median step times (target: Lightning <= 1.05 x raw). Also prints the model's
consumption rate (utterances/s) that a data loader has to keep up with.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build(batch_size: int, bar: str) -> tuple:
    import torch
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate

    with initialize_config_module("lalm_framework.conf", version_base="1.3"):
        cfg = compose("train", overrides=["model=tiny", "dataset=sample", f"dataset.batch_size={batch_size}"])
    torch.manual_seed(0)
    module = instantiate(cfg.model)
    dm = instantiate(cfg.dataset, tokenizer=module.tokenizer, feature_extractor=module.feature_extractor)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    progress = None
    if bar == "config":  # the bar `lalm-train` shows (callbacks.progress_bar), if it configures one
        node = cfg.callbacks.get("progress_bar")
        progress = (lambda: instantiate(node)) if node else None
    return module, batch, progress


def raw_steps(module: Any, batch: dict[str, Any], steps: int) -> list[float]:
    """Per-step seconds of a plain loop: forward, backward, optimizer + scheduler step."""
    opt_cfg = module.configure_optimizers()
    opt, sched = opt_cfg["optimizer"], opt_cfg["lr_scheduler"]["scheduler"]
    module.train()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = module.training_loss(batch)  # what training_step computes, minus logging
        loss.backward()
        opt.step()
        sched.step()
        times.append(time.perf_counter() - t0)
    return times


def lightning_steps(
    module: Any, batch: dict[str, Any], steps: int, bar: str = "config", progress: Callable[[], Any] | None = None
) -> list[float]:
    """Per-step seconds of `Trainer.fit` with logging on and a progress bar.

    bar: "config" (`progress()`, the bar `lalm-train` configures), "lightning" (Lightning's own
    default: rich when installed, redrawn every step), or "none".
    """
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    times: list[float] = []

    class StepTimer(pl.Callback):
        def on_train_batch_start(self, *a: Any) -> None:
            if hasattr(self, "t0"):
                times.append(time.perf_counter() - self.t0)
            self.t0 = time.perf_counter()

        def on_train_end(self, *a: Any) -> None:
            times.append(time.perf_counter() - self.t0)

    # the loader hands out the already collated batch: loading is not what is measured here
    loader = DataLoader([batch] * steps, batch_size=None, shuffle=False)
    callbacks: list[Any] = [StepTimer()]
    if bar == "config" and progress is not None:
        callbacks.append(progress())  # a fresh bar per Trainer
    trainer = pl.Trainer(
        max_steps=steps,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        enable_progress_bar=bar != "none",
    )
    trainer.fit(module, train_dataloaders=loader)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="steps per round and side")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--bar",
        choices=["config", "lightning", "none"],
        default="config",
        help="progress bar of the Lightning side: config = what lalm-train shows",
    )
    args = parser.parse_args()
    import logging

    import torch

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    module, batch, progress = build(args.batch_size, args.bar)
    init = copy.deepcopy(module.state_dict())
    raw: list[float] = []
    lit: list[float] = []
    for r in range(args.rounds):
        for side in ("raw", "lit") if r % 2 == 0 else ("lit", "raw"):
            module.load_state_dict(init)
            if side == "raw":
                t = raw_steps(module, batch, args.steps)
            else:
                t = lightning_steps(module, batch, args.steps, bar=args.bar, progress=progress)
            t = t[2:]  # the first steps warm allocator caches
            (raw if side == "raw" else lit).extend(t)
    r_med, l_med = statistics.median(raw), statistics.median(lit)
    n = len(batch["ids"])
    print(
        f"\ntiny LALM, batch {n} x {batch['input_features'].shape[-1]} mel frames, progress bar {args.bar}, "
        f"torch threads {torch.get_num_threads()}, {args.rounds} rounds x {args.steps} steps per side"
    )
    print(f"raw PyTorch loop : {1000 * r_med:7.1f} ms/step (median)")
    print(f"Lightning fit    : {1000 * l_med:7.1f} ms/step (median)")
    print(f"Lightning / raw  : {l_med / r_med:.3f}  (overhead {100 * (l_med / r_med - 1):+.1f}%, target <= +5%)")
    print(f"model consumes   : {n / l_med:.1f} utterances/s in training (a loader must deliver more)")


if __name__ == "__main__":
    main()
