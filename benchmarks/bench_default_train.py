"""The bundled default `lalm-train` (one dataset, one val set) against the code before the source rebuild.

    OMP_NUM_THREADS=1 python benchmarks/bench_default_train.py [--seeds 1 2 3] [--baseline REF]
        [--epochs N] [--keep DIR]

Issue 18's "the bundled default path does not regress" measured: `lalm-train seed=S` (model=tiny,
dataset=sample, 80 epochs) of this tree and of the baseline run side by side, one pair per seed,
both processes started together so load from other processes hits both alike. Per seed it prints
wall time and the last epoch's `val/wer` and `val/loss` (the train.log epoch lines), then the
ratios (this tree / baseline) and the mean WER difference in points. Goal: WER within +-1 point,
wall time ratio ~1.

`--baseline` (default: the parent of the first commit touching `lalm_framework/data/sources`, i.e.
the flat-argument data module before issue 18) is checked out with `git worktree add` into a
temporary folder and imported from there (PYTHONPATH first); this tree's venv serves both.
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

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
# baseline: "val/wer=0.213"; this tree: "val/wer 21.3%"
METRIC = re.compile(r"(val/(?:wer|loss))[= ]([0-9.eE+-]+)(%?)")
LAUNCH = "import sys; from lalm_framework.cli.train import main; sys.argv[0] = 'lalm-train'; main()"


def default_baseline() -> str:
    """The commit before the first one that touched `lalm_framework/data/sources`."""
    out = subprocess.run(
        ["git", "log", "--reverse", "--format=%H", "--", "lalm_framework/data/sources"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return f"{out[0]}^"


def start(tree: Path, run_dir: Path, seed: int, epochs: int | None) -> subprocess.Popen[bytes]:
    """`lalm-train seed=S` of the code in `tree`, outputs in `run_dir`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [sys.executable, "-c", LAUNCH, f"seed={seed}", f"hydra.run.dir={run_dir}"]
    if epochs is not None:
        args.append(f"trainer.max_epochs={epochs}")
    log = open(run_dir.parent / f"{run_dir.name}.out", "wb")  # closed with the process
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(args, cwd=run_dir.parent, env=env, stdout=log, stderr=subprocess.STDOUT)


def last_epoch(run_dir: Path) -> dict[str, float]:
    """val/wer (fraction) and val/loss of the last epoch: run.json's epoch rows where the run keeps
    them (this tree), else the last epoch line of train.log (rounded there in this tree)."""
    attempts = json.loads((run_dir / "run.json").read_text()).get("attempts") or [{}]
    rows = attempts[-1].get("epochs") or []
    if rows and "val/wer" in rows[-1]:
        return {k: float(rows[-1][k]) for k in ("val/wer", "val/loss") if k in rows[-1]}
    lines = [ln for ln in (run_dir / "train.log").read_text().splitlines() if re.search(r"\bepoch \d+", ln)]
    values: dict[str, float] = {}
    for line in lines:
        found = {m[0]: float(m[1]) / (100 if m[2] else 1) for m in METRIC.findall(line)}
        if "val/wer" in found:
            values = found
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--baseline", default=None, help="git ref (default: before the data-source rebuild)")
    parser.add_argument("--epochs", type=int, default=None, help="trainer.max_epochs (default: the bundled 80)")
    parser.add_argument("--keep", type=Path, default=None, help="folder for the runs (default: a temporary one)")
    opts = parser.parse_args()
    ref = opts.baseline or default_baseline()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="bench-default-train-"))
    base_tree = work / f"baseline-{commit}"
    if not base_tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), commit], cwd=REPO, check=True)
    print(f"baseline {commit} in {base_tree}; this tree {REPO}; runs in {work}")
    print(f"load before: {os.getloadavg()}  OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}", flush=True)
    rows: list[tuple[int, str, float, dict[str, float]]] = []
    for seed in opts.seeds:
        sides = {"baseline": base_tree, "current": REPO}
        procs = {}
        began = {}
        for side, tree in sides.items():
            run_dir = work / f"{side}-seed{seed}"
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            began[side] = time.monotonic()
            procs[side] = start(tree, run_dir, seed, opts.epochs)
        ended = {}
        while len(ended) < len(procs):
            for side, proc in procs.items():
                if side not in ended and proc.poll() is not None:
                    ended[side] = time.monotonic()
            time.sleep(0.5)
        for side, proc in procs.items():
            run_dir = work / f"{side}-seed{seed}"
            if proc.returncode != 0:
                sys.exit(f"{side} seed {seed} failed (exit {proc.returncode}): see {run_dir}.out")
            metrics = last_epoch(run_dir)
            seconds = ended[side] - began[side]
            rows.append((seed, side, seconds, metrics))
            print(
                f"seed {seed} {side:8s} wall {seconds:7.1f} s  val/wer {100 * metrics['val/wer']:5.1f}%  "
                f"val/loss {metrics.get('val/loss', float('nan')):.4f}  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    print()
    for seed in opts.seeds:
        b, c = (next(r for r in rows if r[0] == seed and r[1] == side) for side in ("baseline", "current"))
        print(
            f"seed {seed}: wall current/baseline {c[2] / b[2]:.2f}x  "
            f"WER {100 * c[3]['val/wer']:.1f}% vs {100 * b[3]['val/wer']:.1f}% "
            f"({100 * (c[3]['val/wer'] - b[3]['val/wer']):+.1f} points)"
        )

    def mean(side: str, key: str) -> float:
        return statistics.mean(r[3][key] for r in rows if r[1] == side)

    walls = {side: statistics.median(r[2] for r in rows if r[1] == side) for side in ("baseline", "current")}
    print(
        f"median wall: current {walls['current']:.1f} s, baseline {walls['baseline']:.1f} s "
        f"({walls['current'] / walls['baseline']:.2f}x); "
        f"mean dev WER: current {100 * mean('current', 'val/wer'):.1f}%, "
        f"baseline {100 * mean('baseline', 'val/wer'):.1f}% "
        f"({100 * (mean('current', 'val/wer') - mean('baseline', 'val/wer')):+.1f} points); mean val/loss: "
        f"current {mean('current', 'val/loss'):.4f}, baseline {mean('baseline', 'val/loss'):.4f}"
    )
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
