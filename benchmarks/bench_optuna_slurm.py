"""Asynchronous Optuna trials on SLURM against the batch mode they replace, on a real cluster.

    python benchmarks/bench_optuna_slurm.py [--trials 16] [--seed 0] [--scale 3] [--slots 2]
    python benchmarks/bench_optuna_slurm.py --trials 10 --uniform 1 12 --modes async workers
    python benchmarks/bench_optuna_slurm.py --local --trials 10 --uniform 1 12 --modes async workers

16 trials of very uneven length (a quarter "full" trials, the rest stopped early as a pruner
would: bench_optuna_async's seeded durations, times `--scale`), `--slots` at a time, through the
`lalm_slurm` launcher (one SLURM job per trial) and `hydra/sweeper=lalm_optuna`:
  async: the default: a trial is submitted as soon as one of the slots frees;
  batch: `hydra.sweeper.asynchronous=false`: arrays of `--slots` trials, each waiting for its
         slowest (what the sweeper did before, and what hydra-optuna-sweeper does);
  workers: `hydra.sweeper.workers=--slots`: that many long-lived SLURM jobs, each asking the study
         for the next trial and running it in a fresh process inside its allocation (no queue
         wait, no submission per trial).
`--uniform LOW HIGH`: seeded uniform durations instead (issue 20: 1-12 s). `--local`: the same
modes on the `lalm_pool` launcher, no cluster (one job per trial is a fresh pool process there).
Each job records its process's start (the SLURM task's python) and exit (after submitit wrote the
result). A trial's duration is that lifetime; the ideal list schedule places the same durations,
in trial order, on the slots with no gap at all: the gaps are what SLURM and the sweep's
controller add between one job's exit and the next one's start. Printed: makespans (first start
-> last end), async / ideal (target <= 1.1), batch / async (target >= 1.3), and the mean gap
between a job's exit and the next start on its slot.

Needs a SLURM cluster: uses $SLURM_CONF if `sinfo` answers, else starts tests/slurm/local_cluster.sh
(root) in a temp dir and stops it at the end. Both modes run one after the other in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_optuna_async import durations
from bench_slurm_submit import cluster_env

APP = textwrap.dedent("""
    import atexit, json, time
    from dataclasses import dataclass, field

    import hydra, psutil
    from hydra.core.config_store import ConfigStore
    from hydra.core.hydra_config import HydraConfig

    @dataclass
    class Bench:
        x: float = 0.5
        durations: list = field(default_factory=list)
        marker: str = ""

    ConfigStore.instance().store(name="bench", node=Bench)

    @hydra.main(version_base="1.3", config_path=None, config_name="bench")
    def main(cfg):
        number = HydraConfig.get().job.num  # job number = trial number
        started = psutil.Process().create_time()  # this SLURM task's python process

        def record_end():  # when the process exits: after submitit wrote the job's result
            with open(cfg.marker, "a") as f:
                f.write(json.dumps({"trial": number, "start": started, "end": time.time()}) + "\\n")

        atexit.register(record_end)
        time.sleep(cfg.durations[number])
        return (cfg.x - 0.3) ** 2

    if __name__ == "__main__":
        main()
""")


SLURM = ["hydra/launcher=lalm_slurm", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1"]
POOL = ["hydra/launcher=lalm_pool", "hydra.launcher.preload=[]", "hydra.launcher.status_line=false"]


def sweep(
    app: Path, root: Path, name: str, durs: list[float], slots: int, env: dict[str, str], launcher: list[str]
) -> dict[str, float]:
    sweep_dir, marker = root / name, root / f"{name}.jsonl"
    cmd = [
        sys.executable,
        str(app),
        "-m",
        *launcher,
        *([f"hydra.launcher.n_jobs={slots}"] if launcher is POOL else []),
        "hydra/sweeper=lalm_optuna",
        "x=interval(0, 1)",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweeper.plots=false",
        "hydra/sweeper/pruner=none",
        f"hydra.sweeper.n_trials={len(durs)}",
        f"hydra.sweeper.n_jobs={slots}",
        f"hydra.sweeper.asynchronous={str(name != 'batch').lower()}",
        f"hydra.sweeper.workers={slots if name == 'workers' else 0}",
        f"durations=[{','.join(map(str, durs))}]",
        f"marker={marker}",
    ]
    tic = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=3600)
    wall = time.perf_counter() - tic
    if proc.returncode:
        raise SystemExit(f"{name} sweep failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    runs = sorted((json.loads(line) for line in marker.read_text().splitlines()), key=lambda r: r["trial"])
    assert [r["trial"] for r in runs] == list(range(len(durs))), f"{name}: trials {[r['trial'] for r in runs]}"
    lifetimes = [r["end"] - r["start"] for r in runs]
    return {
        "makespan": max(r["end"] for r in runs) - min(r["start"] for r in runs),
        "ideal": list_schedule(lifetimes, slots),
        "gap": mean_gap(runs, slots),
        "wall": wall,
        "work": sum(lifetimes),
    }


def list_schedule(lengths: list[float], slots: int) -> float:
    """Makespan of the greedy list schedule: each trial, in order, on the slot that frees first."""
    free = [0.0] * slots
    for length in lengths:
        free[free.index(min(free))] += length
    return max(free)


def mean_gap(runs: list[dict[str, float]], slots: int) -> float:
    """Mean time from a job's end to the start of the next job that took its place."""
    events = sorted(runs, key=lambda r: r["start"])
    ends = sorted(r["end"] for r in events[:slots])
    gaps = []
    for r in events[slots:]:
        gaps.append(r["start"] - ends.pop(0))
        ends = sorted([*ends, r["end"]])
    return sum(gaps) / len(gaps) if gaps else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=3.0, help="times bench_optuna_async's durations")
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--uniform", type=float, nargs=2, metavar=("LOW", "HIGH"), help="seeded uniform durations")
    parser.add_argument("--modes", nargs="+", default=["async", "batch", "workers"], choices=MODES)
    parser.add_argument("--local", action="store_true", help="lalm_pool instead of SLURM (no cluster)")
    args = parser.parse_args()
    if args.uniform:
        rng = random.Random(args.seed)
        durs = [round(rng.uniform(*args.uniform), 2) for _ in range(args.trials)]
    else:
        durs = [round(d * args.scale, 2) for d in durations(args.trials, args.seed)]
    print(f"sleep per trial (s): {durs}  total {sum(durs):.1f}", flush=True)

    where = contextlib.nullcontext(dict(os.environ, OMP_NUM_THREADS="1")) if args.local else cluster_env()
    with where as env, tempfile.TemporaryDirectory(prefix="bench-optuna-slurm-") as tmp:
        app = Path(tmp) / "app.py"
        app.write_text(APP)
        results = {}
        for name in args.modes:
            results[name] = r = sweep(app, Path(tmp), name, durs, args.slots, env, POOL if args.local else SLURM)
            print(f"{name}: makespan {r['makespan']:.1f} s (wall {r['wall']:.1f} s)", flush=True)

    load = os.getloadavg()[0]
    print(f"\n{args.trials} trials on {args.slots} slots; node: {os.cpu_count()} cores, load {load:.1f}")
    header = ("mode", "makespan", "ideal list", "x ideal", "mean gap", "work", "wall")
    print("{:6s} {:>9s} {:>11s} {:>8s} {:>9s} {:>8s} {:>8s}".format(*header))
    for name, r in results.items():
        print(
            f"{name:6s} {r['makespan']:7.1f} s {r['ideal']:9.1f} s {r['makespan'] / r['ideal']:7.2f}x "
            f"{r['gap']:7.2f} s {r['work']:6.1f} s {r['wall']:6.1f} s"
        )
    if "async" in results:
        print(f"async makespan / ideal list schedule = {_ratio(results['async']):.2f} (target <= 1.1)")
    if "async" in results and "batch" in results:
        ratio = results["batch"]["makespan"] / results["async"]["makespan"]
        print(f"batch / async makespan = {ratio:.2f} (target >= 1.3)")
    if "workers" in results:
        print(f"workers makespan / ideal list schedule = {_ratio(results['workers']):.2f} (target <= 1.05)")
    if "workers" in results and "async" in results:
        ratio = results["workers"]["makespan"] / results["async"]["makespan"]
        print(f"workers / async (one job per trial) makespan = {ratio:.2f}")


MODES = ("async", "batch", "workers")


def _ratio(r: dict[str, float]) -> float:
    return r["makespan"] / r["ideal"]


if __name__ == "__main__":
    main()
