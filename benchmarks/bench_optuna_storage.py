"""Per-trial cost of an Optuna sweep as its study grows: SQLite (baseline), journal file, PostgreSQL.

Two measurements per storage, side by side:

controller: the sweep controller's own work per trial: the real `StudyDriver` (ask, overrides,
tell, user attributes: what `lalm_optuna` does per trial) with 4 trials in flight, as with 4
workers, and each "job" reporting 3 intermediate values through the same storage, N trials (default
1000) with no processes; seconds per trial over the trials just before n = 10, 100 and N.

sweep: the whole thing end to end: one sweep of `--sweep-trials` sleep-0 trials (default 100), 4
workers of the real `lalm_pool` launcher, the toy app (examples/optuna_curves, one epoch, random
sampler: its cost does not grow with the study, so what grows is the storage and the controller).
Each trial appends its start time to a marker file; the time per trial at study size n is the mean
gap between consecutive trial starts over the window of trials just before n (throughput at that
size: ask, launch, report, tell, record). Printed per storage: seconds per trial at 10, 100 and N
trials, the growth from 10 to N (goal <= 1.5x: flat), and each storage's time per trial against
SQLite's.

PostgreSQL: a real server started on loopback for the run (Debian's `postgresql` package, see
tests/tuning/postgres_server.py), skipped with a note where it is not installed.

    OMP_NUM_THREADS=1 python benchmarks/bench_optuna_storage.py [--trials 1000] [--sweep-trials 100]
        [--storages sqlite,journal,postgresql]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "examples" / "optuna_curves" / "app.py"
sys.path.insert(0, str(REPO))
from tests.tuning.postgres_server import cannot_run_here, postgres_server  # noqa: E402

WORKERS = 4
WINDOW = 8  # trial starts averaged at each size (a few per worker)


@contextlib.contextmanager
def storage_spec(name: str) -> Iterator[str | None]:
    """The `hydra.sweeper.storage` value of a storage kind (a live server for PostgreSQL)."""
    if name == "sqlite":
        yield "null"
    elif name == "journal":
        yield "journal"
    elif name == "postgresql":
        why = cannot_run_here()
        if why:
            print(f"postgresql: skipped ({why})")
            yield None
            return
        with postgres_server() as url:
            yield url
    else:
        raise SystemExit(f"unknown storage {name!r}: use sqlite, journal or postgresql")


def sweep(root: Path, name: str, storage: str, trials: int) -> tuple[list[float], float]:
    """Start times of the trials (sorted) and the command's wall time."""
    sweep_dir, marker = root / name, root / f"{name}.marker"
    cmd = [
        sys.executable,
        str(APP),
        "-m",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweeper.plots=false",
        f"hydra.sweeper.storage={storage}",
        "hydra/launcher=lalm_pool",
        f"hydra.launcher.n_jobs={WORKERS}",
        "hydra.launcher.status_line=false",
        f"hydra.sweeper.n_jobs={WORKERS}",
        f"hydra.sweeper.n_trials={trials}",
        "hydra/sweeper/sampler=random",
        "hydra/sweeper/pruner=none",
        "epochs=1",
        f"marker={marker}",
    ]
    tic = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    wall = time.perf_counter() - tic
    starts = sorted(float(s.split()[3]) for s in marker.read_text().splitlines() if s.startswith("start"))
    assert len(starts) == trials, f"{name}: {len(starts)} of {trials} trials started"
    return starts, wall


def controller(root: Path, name: str, storage: str, trials: int) -> list[float]:
    """End time of each trial (told) when the real StudyDriver runs `trials` trials, 4 in flight."""
    import optuna
    from hydra.core.utils import JobReturn, JobStatus

    from lalm_framework.tuning.driver import StudyDriver
    from lalm_framework.tuning.guard import FailureGuard
    from lalm_framework.tuning.space import parse_search_space
    from lalm_framework.tuning.storage import open_storage, storage_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url(None if storage == "null" else storage, root / f"{name}-controller")
    opened = open_storage(url)
    study = optuna.create_study(
        storage=opened, study_name=f"bench-{name}", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    space = parse_search_space({"x": "interval(0, 1)", "lr": "tag(log, interval(1e-5, 1e-2))"}, ["epochs=1"])
    identity = {"storage": url, "study_name": study.study_name}
    driver = StudyDriver(study, opened, space, trials, FailureGuard(1.0, trials), identity=identity)
    logging_off = __import__("logging").getLogger("lalm_framework.tuning.driver")
    logging_off.disabled = True
    in_flight: list[optuna.trial.Trial] = []
    ends: list[float] = []
    while True:
        while len(in_flight) < WORKERS:
            made = driver.new_trial()
            if made is None:
                break
            in_flight.append(made[0])
        if not in_flight:
            return ends
        trial = in_flight.pop(0)
        for step in range(3):  # what a job's pruning reporter writes through the same storage
            trial.report(float(step), step)
        ret = JobReturn(overrides=[], status=JobStatus.COMPLETED)
        ret.return_value = float(trial.params["x"])
        driver.finish(trial, ret)
        ends.append(time.perf_counter())


def per_trial_at(starts: list[float], n: int) -> float:
    """Mean gap between trial starts over the WINDOW starts just before the n-th (n >= 2)."""
    hi = min(n, len(starts)) - 1
    lo = max(0, hi - WINDOW)
    return (starts[hi] - starts[lo]) / max(1, hi - lo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000, help="controller measurement: trials per storage")
    parser.add_argument("--sweep-trials", type=int, default=100, help="end-to-end sweep: trials (0: skip)")
    parser.add_argument("--storages", default="sqlite,journal,postgresql")
    args = parser.parse_args()
    tables: dict[str, dict[str, dict[int, float]]] = {"controller": {}, "sweep": {}}
    walls: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.storages.split(","):
            with storage_spec(name) as spec:
                if spec is None:
                    continue
                ends = controller(Path(tmp), name, spec, args.trials)
                tables["controller"][name] = {n: per_trial_at(ends, n) for n in _sizes(args.trials)}
                if args.sweep_trials:
                    starts, walls[name] = sweep(Path(tmp), name, spec, args.sweep_trials)
                    tables["sweep"][name] = {n: per_trial_at(starts, n) for n in _sizes(args.sweep_trials)}
    _print("controller (StudyDriver, 4 in flight, 3 reports per trial)", tables["controller"], {})
    if args.sweep_trials:
        _print(f"sweep (toy app, {WORKERS} lalm_pool workers, sleep-0 trials)", tables["sweep"], walls)


def _sizes(trials: int) -> list[int]:
    return sorted({10, 100, trials} & set(range(10, trials + 1)))


def _print(title: str, rows: dict[str, dict[int, float]], walls: dict[str, float]) -> None:
    if not rows:
        return
    sizes = sorted(next(iter(rows.values())))
    print(f"\n{title}: seconds per trial at study size n")
    head = f"{'storage':<11}" + "".join(f"{'n=' + str(n):>10}" for n in sizes) + f"{'growth':>9}"
    print(head + (f"{'wall s':>9}" if walls else ""))
    for name, at in rows.items():
        growth = at[sizes[-1]] / at[sizes[0]]
        line = f"{name:<11}" + "".join(f"{at[n]:>10.4f}" for n in sizes) + f"{growth:>8.2f}x"
        line += f"{walls[name]:>9.1f}" if name in walls else ""
        print(line + ("  (goal <= 1.5x)" if name != "sqlite" else ""))
    if "sqlite" in rows:
        base = rows["sqlite"][sizes[-1]]
        for name, at in rows.items():
            if name != "sqlite":
                print(f"  {name} / sqlite at n={sizes[-1]}: {at[sizes[-1]] / base:.2f}x")


if __name__ == "__main__":
    main()
