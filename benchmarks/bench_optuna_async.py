"""Makespan of an asynchronous Optuna sweep against the stock batch-synchronous behaviour.

16 trials whose durations vary (seeded: a quarter long, the rest short), 2 workers of the real
`lalm_pool` launcher, the toy app (examples/optuna_curves) sleeping each trial's duration.
  stock: `hydra.sweeper.asynchronous=false` -> batches of n_jobs=2, each waits for its slowest
         trial (what hydra-optuna-sweeper does with any launcher)
  ours:  the default: a new trial is asked for as soon as a worker frees
Trial n sleeps durations[n] in both runs. Makespan = first job start -> last job end (from the
jobs' own timestamps); the whole command's wall time is printed too. Target: stock / ours >= 1.3.

    OMP_NUM_THREADS=1 python benchmarks/bench_optuna_async.py [--trials 16] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "examples" / "optuna_curves" / "app.py"
WORKERS = 2


def durations(n: int, seed: int) -> list[float]:
    """A quarter of the trials long (6-10 s), the rest short (0.3-1.5 s), in seeded order."""
    rng = random.Random(seed)
    long = set(rng.sample(range(n), n // 4))
    return [round(rng.uniform(6.0, 10.0) if i in long else rng.uniform(0.3, 1.5), 2) for i in range(n)]


def sweep(root: Path, name: str, durs: list[float], asynchronous: bool) -> dict[str, float]:
    sweep_dir, marker = root / name, root / f"{name}.marker"
    cmd = [
        sys.executable,
        str(APP),
        "-m",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweeper.plots=false",
        "hydra/launcher=lalm_pool",
        f"hydra.launcher.n_jobs={WORKERS}",
        "hydra.launcher.status_line=false",
        f"hydra.sweeper.n_jobs={WORKERS}",
        f"hydra.sweeper.n_trials={len(durs)}",
        "hydra/sweeper/pruner=none",
        f"hydra.sweeper.asynchronous={str(asynchronous).lower()}",
        "epochs=1",
        f"durations=[{','.join(map(str, durs))}]",
        f"marker={marker}",
    ]
    tic = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    wall = time.perf_counter() - tic
    stamps = [line.split() for line in marker.read_text().splitlines()]
    starts = [float(s[3]) for s in stamps if s[0] == "start"]
    ends = [float(s[3]) for s in stamps if s[0] == "done"]
    assert len(ends) == len(durs), f"{name}: {len(ends)} of {len(durs)} trials finished"
    return {"makespan": max(ends) - min(starts), "wall": wall}


def ideal(durs: list[float]) -> dict[str, float]:
    """Makespans from the durations alone (no process start-up): batch-synchronous and greedy."""
    batch = sum(max(durs[i : i + WORKERS]) for i in range(0, len(durs), WORKERS))
    free = [0.0] * WORKERS
    for d in durs:
        free[free.index(min(free))] += d
    return {"stock": batch, "ours": max(free)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    durs = durations(args.trials, args.seed)
    print(f"durations (s): {durs}  total {sum(durs):.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        stock = sweep(Path(tmp), "stock", durs, asynchronous=False)
        ours = sweep(Path(tmp), "ours", durs, asynchronous=True)
    best = ideal(durs)
    print(
        f"stock (batches of {WORKERS}): makespan {stock['makespan']:.1f} s  wall {stock['wall']:.1f} s  "
        f"(sleep-only bound {best['stock']:.1f} s)"
    )
    print(
        f"ours (asynchronous):   makespan {ours['makespan']:.1f} s  wall {ours['wall']:.1f} s  "
        f"(sleep-only bound {best['ours']:.1f} s)"
    )
    print(
        f"makespan ratio stock/ours = {stock['makespan'] / ours['makespan']:.2f} (target >= 1.3); "
        f"wall ratio {stock['wall'] / ours['wall']:.2f}; sleep-only ratio {best['stock'] / best['ours']:.2f}"
    )


if __name__ == "__main__":
    main()
