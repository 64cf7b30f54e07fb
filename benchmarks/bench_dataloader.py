"""Data loading of `dataset=sample` side by side: the previous loader against Lhotse (folder, Shar).

    OMP_NUM_THREADS=1 python benchmarks/bench_dataloader.py [--rounds 3] [--workers 0,2] [--baseline main]

Loader throughput: one pass over the train split (decode + Whisper log-mel + tokens + collate),
utterances/s with 0 and 2 workers, worker start-up excluded, no feature cache, for
- `baseline`: the data layer of git ref `--baseline` (default `main`: the hand-written loader),
  extracted with `git archive` and run from there;
- `folder`: this tree, LibriSpeech layout through Lhotse's recipe;
- `shar`: this tree, from Lhotse Shar shards written by `write_shar`.
Each (side, round) runs in a fresh process; rounds alternate the side order, so load from other
processes hits all sides alike; medians are reported, with ratios to the baseline.

Feature cache: a second pass with `cache_features=true` (what epochs >= 2 of `dataset=sample`
cost) against the tiny model's own training rate, and the in-process training rate with and
without the cache (0 workers: loading and training add up on one core).

Padding waste (padded frames / all frames, each batch padded to its longest utterance) of one
epoch with fixed `batch_size` against `max_duration` bucketing (goal: <= 10%).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))


# --- measured in a fresh process (--measure) -----------------------------------------------
def model_parts() -> tuple[Any, Any]:
    """A BPE tokenizer on the sample transcripts and the tiny model's feature extractor (80 mels, 5 s)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, WhisperFeatureExtractor

    from lalm_framework.data.batch import AUDIO_TOKEN

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=256, special_tokens=["<pad>", "<s>", "</s>", "<unk>", AUDIO_TOKEN])
    tok.train_from_iterator(
        ["ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TURN ON OFF THE", "Transcribe:"], trainer
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        additional_special_tokens=[AUDIO_TOKEN],
    )
    return tokenizer, WhisperFeatureExtractor(feature_size=80, chunk_length=5)


def make_module(side: str, workers: int, shar: str, cache: bool = False) -> Any:
    from lalm_framework.data.datamodule import LalmDataModule

    tokenizer, fe = model_parts()
    common: dict[str, Any] = dict(
        batch_size=8, num_workers=workers, tokenizer=tokenizer, feature_extractor=fe, cache_features=cache
    )
    if side == "shar":
        return LalmDataModule(path=shar, train_split="train", val_split=None, test_split=None, **common)
    if side == "folder":
        common["bucketing"] = False
    return LalmDataModule(train_split="train", val_split=None, test_split=None, **common)


def pass_rate(loader: Any, passes: int = 1) -> float:
    """Utterances/s of the last of `passes` passes, from its second batch (workers are up)."""
    rate = 0.0
    for _ in range(passes):
        it = iter(loader)
        next(it)
        t0, n = time.perf_counter(), 0
        for batch in it:
            n += len(batch["ids"])
        rate = n / (time.perf_counter() - t0)
    return rate


def measure(side: str, workers: list[int], shar: str) -> dict[str, float]:
    import logging

    logging.getLogger("lalm_framework").setLevel(logging.WARNING)
    out = {}
    for w in workers:
        dm = make_module(side, w, shar)
        dm.setup("fit")
        out[f"w{w}"] = pass_rate(dm.train_dataloader())
    if side == "folder":
        dm = make_module(side, 0, shar, cache=True)
        dm.setup("fit")
        out["cached"] = pass_rate(dm.train_dataloader(), passes=2)
    return out


# --- the parent: baseline extraction, rounds, model rate, padding ---------------------------
def extract(ref: str, dest: Path) -> Path:
    """`lalm_framework` of git ref `ref`, extracted into `dest` (importable from there)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "lalm_framework"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def run_side(side: str, workers: list[int], shar: Path, baseline: Path | None) -> dict[str, float]:
    env = dict(os.environ)
    if side == "baseline":
        assert baseline is not None
        env["PYTHONPATH"] = f"{baseline}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [sys.executable, __file__, "--measure", side, "--workers", ",".join(map(str, workers)), "--shar", str(shar)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=baseline or REPO)
    if proc.returncode != 0:
        raise SystemExit(f"{side} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def model_rate(steps: int) -> float:
    """Utterances/s the tiny LALM (model=tiny) trains on, batch 8 (median step, plain loop)."""
    import torch
    from bench_lightning_overhead import raw_steps
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate

    with initialize_config_module("lalm_framework.conf", version_base="1.3"):
        cfg = compose("train", overrides=["model=tiny", "dataset=sample"])
    torch.manual_seed(0)
    module = instantiate(cfg.model)
    dm = instantiate(cfg.dataset, tokenizer=module.tokenizer, feature_extractor=module.feature_extractor)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    return len(batch["ids"]) / statistics.median(raw_steps(module, batch, steps)[2:])


def padding(seed: int = 0) -> dict[str, float]:
    """Padding waste of one epoch of the sample train split per batching mode."""
    from lalm_framework.data.sampling import BatchSpec, CutBatchSampler
    from lalm_framework.data.sources import FolderSource
    from lalm_framework.samples import SAMPLE_ROOT

    train = FolderSource(SAMPLE_ROOT, "train").load("train", skip_bad_audio=False, check_audio=True)
    modes = {
        "batch_size=8 (no bucketing)": BatchSpec(max_cuts=8, bucketing=False, seed=seed),
        "batch_size=8, 10 buckets": BatchSpec(max_cuts=8, bucketing=True, seed=seed),
        "max_duration=16 s, 10 buckets": BatchSpec(max_duration=16.0, bucketing=True, seed=seed),
        "max_duration=16 s, no bucketing": BatchSpec(max_duration=16.0, bucketing=False, seed=seed),
    }
    out = {}
    for name, spec in modes.items():
        batches = list(CutBatchSampler(train, spec))
        padded = sum(max(c.duration for c in b) * len(b) for b in batches)
        out[name] = 1 - sum(c.duration for b in batches for c in b) / padded
        out[name + " | batches"] = len(batches)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--baseline", default="main", help="git ref of the loader to compare with ('' to skip)")
    parser.add_argument("--steps", type=int, default=30, help="training steps for the model's rate")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--shar", help=argparse.SUPPRESS)
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    if args.measure:
        print(json.dumps(measure(args.measure, workers, args.shar)))
        return

    import logging

    logging.getLogger("lalm_framework").setLevel(logging.WARNING)
    from lalm_framework.data.datamodule import LalmDataModule
    from lalm_framework.data.shar import write_shar

    with tempfile.TemporaryDirectory() as tmp:
        shar = Path(tmp) / "shar"
        write_shar(LalmDataModule(train_split="train", val_split=None, test_split=None), shar, ["train"])
        baseline = extract(args.baseline, Path(tmp)) if args.baseline else None
        sides = (["baseline"] if baseline else []) + ["folder", "shar"]
        rates: dict[str, dict[str, list[float]]] = {s: {} for s in sides}
        for r in range(args.rounds):
            for side in sides if r % 2 == 0 else sides[::-1]:
                for key, value in run_side(side, workers, shar, baseline).items():
                    rates[side].setdefault(key, []).append(value)
        model = model_rate(args.steps)
    med = {s: {k: statistics.median(v) for k, v in rs.items()} for s, rs in rates.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\ndataset=sample train split (380 utterances, <= 4 s), batch 8, torch threads "
        f"{os.environ.get('OMP_NUM_THREADS')}, cores {os.cpu_count()}, load {load:.1f}, {args.rounds} rounds (medians)"
    )
    print("utterances/s (first pass, no feature cache):")
    for side in sides:
        cells = []
        for w in workers:
            rate = med[side][f"w{w}"]
            ratio = f" ({rate / med['baseline'][f'w{w}']:.2f}x baseline)" if baseline else ""
            cells.append(f"{w} workers {rate:7.1f}{ratio}")
        label = f"{side} ({args.baseline})" if side == "baseline" else side
        print(f"  {label:16s} " + " | ".join(cells))
    cached = med["folder"]["cached"]
    print(f"model=tiny trains    {model:7.1f} utterances/s (batch 8, plain loop)")
    print(
        f"folder, 0 workers, log-mel cached (epochs >= 2): {cached:7.1f} utterances/s = {cached / model:.1f}x the model"
    )
    for name, rate in (("without cache", med["folder"]["w0"]), ("with cache", cached)):
        both = 1 / (1 / rate + 1 / model)  # 0 workers: loading and training share one core
        print(f"  in-process training rate {name:13s}: {both:6.1f} utterances/s = {both / model:.2f}x the model alone")
    print("padding waste (padded / all frames, batches padded to their longest utterance):")
    pad = padding()
    for name, value in pad.items():
        if not name.endswith("| batches"):
            print(f"  {name:32s} {100 * value:5.1f}%  ({pad[name + ' | batches']:.0f} batches)")


if __name__ == "__main__":
    main()
