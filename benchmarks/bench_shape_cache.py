"""Composing every job of a sweep of `lalm-train`'s config: Hydra's loader vs `ShapeCachedLoader`.

What the cache changes: before the first job starts, Hydra's sweepers check that each job of a
batch composes (`load_sweep_config` per job), and `compose_jobs` validates each one; the SLURM
launcher and the Optuna sweeper compose every job too. The sweeps are one config shape (the
usual grid: `seed=0,1,...`) and, to show the worst case, as many shapes as jobs (each job picks
another option of a config group). Both sides compose in this process, interleaved; the check
that both give the same config runs once per size. Not a test: prints seconds and ratios.

    OMP_NUM_THREADS=1 python benchmarks/bench_shape_cache.py [--jobs 16,100,1000]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from lalm_framework.launching.job_configs import ShapeCachedLoader


def master_config() -> DictConfig:
    return compose(config_name="train", overrides=["experiment=digits"], return_hydra_config=True)


def seconds(loader: Any, master: DictConfig, jobs: list[list[str]]) -> tuple[float, DictConfig]:
    t0 = time.perf_counter()
    last = None
    for job in jobs:
        last = loader.load_sweep_config(master, job)
    assert last is not None
    return time.perf_counter() - t0, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="16,100,1000")
    args = parser.parse_args()
    with initialize_config_module(config_module="lalm_framework.conf", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = master_config()
        loader.load_sweep_config(master, ["seed=1"])  # warm: imports and file reads are no sweep's cost
        print(f"{'jobs':>6} {'sweep':<14} {'Hydra s':>9} {'cached s':>9} {'ratio':>7}  per job (Hydra / cached)")
        for n in (int(x) for x in args.jobs.split(",")):
            grids = {"one shape": [[f"seed={i}"] for i in range(n)]}
            grids["shape per job"] = [[f"seed={i}", f"+unused_{i}=1"] for i in range(n)]  # a new key each
            for name, jobs in grids.items():
                plain, a = seconds(loader, master, jobs)
                cached, b = seconds(ShapeCachedLoader(loader), master, jobs)
                same = OmegaConf.to_container(a, resolve=False) == OmegaConf.to_container(b, resolve=False)
                assert same, f"{name}: the cached config differs from Hydra's"
                print(
                    f"{n:>6} {name:<14} {plain:>9.2f} {cached:>9.2f} {plain / cached:>6.1f}x"
                    f"  {1000 * plain / n:.0f} ms / {1000 * cached / n:.0f} ms"
                )


if __name__ == "__main__":
    main()
