"""Data loader throughput of `dataset=sample` against the tiny LALM's consumption rate.

    OMP_NUM_THREADS=1 python benchmarks/bench_dataloader.py [--rounds 3] [--steps 20]

Loader side: one pass over the train split (FLAC decode + Whisper log-mel + tokenization +
collate) with 0, 1 and 2 workers; utterances/s, and per worker; and a second pass with
`cache_features=true` (what epochs >= 2 of `dataset=sample` cost). Model side: training steps of
`model=tiny` (forward, backward, optimizer) on real batches of the same loader, as steps/s x
batch size. Rounds alternate the sides so that load from other processes hits both alike; the
ratio loader / model says how much headroom the loader has (> 1: the model never waits).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lightning_overhead import raw_steps


def build(batch_size: int) -> tuple:
    import torch
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate

    with initialize_config_module("lalm_framework.conf", version_base="1.3"):
        cfg = compose("train", overrides=["model=tiny", "dataset=sample", f"dataset.batch_size={batch_size}"])
    torch.manual_seed(0)
    module = instantiate(cfg.model)
    return module, cfg.dataset


def loader_rate(module: Any, dataset_cfg: Any, workers: int, cached: bool = False) -> float:
    """Utterances/s of a pass over the train split; worker start-up is excluded.

    cached: the second pass with `cache_features=true` (log-mel reused from the first).
    """
    from hydra.utils import instantiate

    dm = instantiate(
        dataset_cfg,
        num_workers=workers,
        cache_features=cached,
        tokenizer=module.tokenizer,
        feature_extractor=module.feature_extractor,
    )
    dm.setup("fit")
    loader = dm.train_dataloader()
    for _ in range(2 if cached else 1):
        it = iter(loader)
        next(it)  # workers are up and have prefetched: the clock starts from here
        t0, n = time.perf_counter(), 0
        for batch in it:
            n += len(batch["ids"])
        rate = n / (time.perf_counter() - t0)
    return rate


def model_rate(module: Any, batches: list[dict[str, Any]], steps: int) -> float:
    """Utterances/s the tiny LALM trains on (median step time)."""
    times: list[float] = []
    for b in batches:
        times.extend(raw_steps(module, b, max(1, steps // len(batches)))[1:])
    return len(batches[0]["ids"]) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="training steps per round")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", default="0,1,2")
    args = parser.parse_args()
    import logging

    import torch
    from hydra.utils import instantiate

    logging.getLogger("lalm_framework").setLevel(logging.WARNING)
    module, dataset_cfg = build(args.batch_size)
    dm = instantiate(dataset_cfg, tokenizer=module.tokenizer, feature_extractor=module.feature_extractor)
    dm.setup("fit")
    it = iter(dm.train_dataloader())
    batches = [next(it) for _ in range(4)]
    workers = [int(w) for w in args.workers.split(",")]
    rates: dict[str, list[float]] = {"model": [], **{f"w{w}": [] for w in workers}, "cached": []}
    for r in range(args.rounds):
        order = list(rates)
        for side in order if r % 2 == 0 else order[::-1]:
            if side == "model":
                rates[side].append(model_rate(module, batches, args.steps))
            elif side == "cached":
                rates[side].append(loader_rate(module, dataset_cfg, 0, cached=True))
            else:
                rates[side].append(loader_rate(module, dataset_cfg, int(side[1:])))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(
        f"\ndataset=sample train split ({len(dm.datasets['train'])} utterances, <= 4 s each), "
        f"batch {args.batch_size}, {batches[0]['input_features'].shape[-1]} mel frames, "
        f"torch threads {torch.get_num_threads()}, cores {os.cpu_count()}, {args.rounds} rounds (medians)"
    )
    print(
        f"model=tiny consumes : {med['model']:7.1f} utterances/s "
        f"({med['model'] / args.batch_size:.1f} train steps/s x batch {args.batch_size})"
    )
    for w in workers:
        rate = med[f"w{w}"]
        print(
            f"loader, {w} worker(s) : {rate:7.1f} utterances/s ({rate / max(w, 1):7.1f} per worker) "
            f"= {rate / med['model']:.1f} x the model's rate"
        )
    print(
        f"loader, 0 workers, log-mel cached (epochs >= 2, cache_features=true): {med['cached']:7.1f} "
        f"utterances/s = {med['cached'] / med['model']:.1f} x the model's rate"
    )
    # with 0 workers loading and training share one core: time per utterance adds up
    for name in ("w0", "cached"):
        both = 1 / (1 / med[name] + 1 / med["model"])
        print(
            f"in-process training rate ({name}): {both:6.1f} utterances/s = {both / med['model']:.2f} x the model alone"
        )


if __name__ == "__main__":
    main()
