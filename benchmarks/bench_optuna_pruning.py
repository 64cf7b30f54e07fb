"""Epochs consumed by an Optuna sweep with the median pruner against the same sweep without pruning.

Both sweeps run the real `lalm_optuna` sweeper on the toy learning-curve app
(examples/optuna_curves: loss = (x - 0.3)^2 + 0.5 / (epoch + 1), reported every epoch from the
job's process). The random sampler with the same seed gives both sweeps the same parameters, so
the best values are comparable; the pruner only decides how many epochs each trial gets.
Epochs consumed = sum over trials of the steps they reported. Target: ratio <= 0.5 at equal best.

    OMP_NUM_THREADS=1 python benchmarks/bench_optuna_pruning.py [--trials 40] [--epochs 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "examples" / "optuna_curves" / "app.py"


def sweep(root: Path, pruner: str, trials: int, epochs: int, seed: int) -> dict[str, float]:
    """Run one sweep; return epochs consumed, best value, trial states and wall time."""
    import optuna

    sweep_dir = root / pruner
    cmd = [
        sys.executable,
        str(APP),
        "-m",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweeper.plots=false",
        f"hydra.sweeper.n_trials={trials}",
        "hydra.sweeper.n_jobs=1",
        "hydra/sweeper/sampler=random",
        f"hydra.sweeper.sampler.seed={seed}",
        f"hydra/sweeper/pruner={pruner}",
        f"epochs={epochs}",
    ]
    if pruner == "median":
        cmd.append("hydra.sweeper.pruner.n_startup_trials=5")
    tic = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    wall = time.perf_counter() - tic
    url = f"sqlite:///{sweep_dir / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(url)
    study = optuna.load_study(study_name=summary.study_name, storage=url)
    done = [t for t in study.trials if t.state.is_finished()]
    return {
        "epochs": sum(len(t.intermediate_values) for t in done),
        "best": study.best_value,
        "pruned": sum(t.state.name == "PRUNED" for t in done),
        "trials": len(done),
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = sweep(Path(tmp), "none", args.trials, args.epochs, args.seed)
        pruned = sweep(Path(tmp), "median", args.trials, args.epochs, args.seed)
    for name, r in (("no pruning", base), ("median pruner", pruned)):
        print(
            f"{name:14s} trials {r['trials']:3d}  pruned {r['pruned']:3d}  epochs {r['epochs']:5d}  "
            f"best {r['best']:.6f}  wall {r['wall_s']:.1f} s"
        )
    ratio = pruned["epochs"] / base["epochs"]
    same = abs(pruned["best"] - base["best"]) <= 1e-12
    print(
        f"epochs ratio median/none = {ratio:.3f} (target <= 0.5); best value equal: {same}; "
        f"wall ratio {pruned['wall_s'] / base['wall_s']:.2f}"
    )


if __name__ == "__main__":
    main()
