"""Composing every job of a sweep of `lalm-train`'s config: Hydra's loader vs `ShapeCachedLoader`.

What the cache changes: before the first job starts, Hydra's sweepers check that each job of a
batch composes (`load_sweep_config` per job), and `compose_jobs` validates each one; the SLURM
launcher and the Optuna sweeper compose every job too. The sweeps are one config shape (the
usual grid: `seed=0,1,...`) and, to show the worst case, as many shapes as jobs (each job picks
another option of a config group). Both sides compose in this process, interleaved job by job;
wall and CPU seconds; the check that both give the same config runs once per size. Not a test:
prints seconds and ratios.

    OMP_NUM_THREADS=1 python benchmarks/bench_shape_cache.py [--jobs 16,100,1000] [--hydra-every 10]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from lalm_framework.launching.job_configs import ShapeCachedLoader


def master_config() -> DictConfig:
    return compose(config_name="train", overrides=["experiment=digits"], return_hydra_config=True)


def side_by_side(loader: Any, master: DictConfig, jobs: list[list[str]], hydra_every: int = 1) -> dict[str, Any]:
    """Compose each job with Hydra's loader and with the cache, one after the other, job by job.

    Interleaved per job, so a change of the machine's load hits both sides alike; wall and CPU
    seconds (this process's CPU time does not grow with other users' load). `hydra_every=k`:
    Hydra's side composes every k-th job only, its total scaled by k (a composition by Hydra's
    loader costs the same whatever came before it).
    """
    cached_loader = ShapeCachedLoader(loader)
    totals = {"hydra": [0.0, 0.0], "cached": [0.0, 0.0]}
    last: dict[str, DictConfig] = {}
    for i, job in enumerate(jobs):
        for side, use in (("hydra", loader), ("cached", cached_loader)):
            if side == "hydra" and i % hydra_every and i != len(jobs) - 1:
                continue
            w0, c0 = time.perf_counter(), time.process_time()
            last[side] = use.load_sweep_config(master, job)
            totals[side][0] += time.perf_counter() - w0
            totals[side][1] += time.process_time() - c0
    same = OmegaConf.to_container(last["hydra"], resolve=False) == OmegaConf.to_container(last["cached"], resolve=False)
    assert same, "the cached config differs from Hydra's"
    sampled = len(range(0, len(jobs), hydra_every)) + (1 if (len(jobs) - 1) % hydra_every else 0)
    totals["hydra"] = [t * len(jobs) / sampled for t in totals["hydra"]]
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="16,100,1000")
    parser.add_argument(
        "--hydra-every", type=int, default=1, help="Hydra's side composes every k-th job only (scaled): for 1000 jobs"
    )
    args = parser.parse_args()
    with initialize_config_module(config_module="lalm_framework.conf", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = master_config()
        loader.load_sweep_config(master, ["seed=1"])  # warm: imports and file reads are no sweep's cost
        print(
            f"{'jobs':>6} {'sweep':<14} {'Hydra s':>9} {'cached s':>9} {'ratio':>7} {'CPU ratio':>10}"
            "  per job wall (Hydra / cached), load average"
        )
        for n in (int(x) for x in args.jobs.split(",")):
            grids = {"one shape": [[f"seed={i}"] for i in range(n)]}
            grids["shape per job"] = [[f"seed={i}", f"+unused_{i}=1"] for i in range(n)]  # a new key each
            for name, jobs in grids.items():
                t = side_by_side(loader, master, jobs, args.hydra_every)
                (plain, plain_cpu), (cached, cached_cpu) = t["hydra"], t["cached"]
                print(
                    f"{n:>6} {name:<14} {plain:>9.2f} {cached:>9.2f} {plain / cached:>6.1f}x"
                    f" {plain_cpu / cached_cpu:>9.1f}x"
                    f"  {1000 * plain / n:.0f} ms / {1000 * cached / n:.0f} ms, load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
