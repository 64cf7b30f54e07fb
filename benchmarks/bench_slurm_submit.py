"""SLURM submission: time of a 16-job array submission, and per-job launcher overhead.

    python benchmarks/bench_slurm_submit.py [--jobs 16] [--rounds 2]

Runs the same sweep of N trivial jobs (a Hydra app that returns x*10: no torch) through
  basic           Hydra's in-process launcher (the baseline: no SLURM at all),
  submitit_slurm  upstream hydra-submitit-launcher,
  lalm_slurm      ours (validation of every job, pending-reason watch, sacct states, summary),
one after the other in each round, and prints per launcher (median over rounds):
  - wall time of the whole sweep, and its ratio to the basic launcher;
  - per-job overhead: (T(sweep) - T(basic)) / N;
  - for lalm_slurm, from its log: time to compose + check the N jobs, and the submission itself
    (pickling + the one `sbatch` of the array).
Needs a SLURM cluster: uses $SLURM_CONF if `sinfo` answers, else starts tests/slurm/local_cluster.sh
(root) in a temp dir and stops it at the end. All figures come from runs made side by side in this
process, so machine load shared with others hits every launcher alike.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tests" / "slurm" / "local_cluster.sh"
APP = textwrap.dedent("""
    import hydra

    @hydra.main(version_base=None, config_path=None, config_name=None)
    def main(cfg):
        return int(cfg.x) * 10

    if __name__ == "__main__":
        main()
""")
LAUNCHERS = {
    "basic": [],
    "submitit_slurm": ["hydra/launcher=submitit_slurm", "hydra.launcher.timeout_min=5"],
    "lalm_slurm": ["hydra/launcher=lalm_slurm", "hydra.launcher.timeout_min=5", "hydra.launcher.poll_interval_s=1"],
}
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]\[HYDRA\] (.*)$")


@contextlib.contextmanager
def cluster_env() -> Iterator[dict[str, str]]:
    """The environment of SLURM clients: $SLURM_CONF when `sinfo` answers, else a cluster that
    tests/slurm/local_cluster.sh starts (root) in a temp dir and stops at the end."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    if subprocess.run(["sinfo", "-h"], env=env, capture_output=True).returncode == 0:
        yield env
        return
    state = Path(tempfile.mkdtemp(prefix="lalm-slurm-bench-"))
    started = subprocess.run(["bash", str(CLUSTER), "start", str(state)], capture_output=True, text=True)
    if started.returncode:
        raise SystemExit(f"no SLURM cluster (set SLURM_CONF or run as root): {started.stderr.strip()}")
    try:
        yield {**env, "SLURM_CONF": str(state / "etc" / "slurm.conf")}
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop", str(state)], capture_output=True)


def _stamps(output: str) -> dict[str, float]:
    """Seconds of the lalm_slurm log lines that mark its phases."""
    out = {}
    for line in output.splitlines():
        m = STAMP.match(line)
        if not m:
            continue
        t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for key, text in (
            ("check", "lalm_slurm: checking"),
            ("submit", "lalm_slurm: submitting"),
            ("array", "lalm_slurm: array job"),
        ):
            if m.group(2).startswith(text):
                out[key] = t
    return out


def run_sweep(app: Path, launcher: str, jobs: int, env: dict[str, str], cwd: Path) -> dict[str, float]:
    args = [sys.executable, str(app), "-m", *LAUNCHERS[launcher], f"+x=range({jobs})"]
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{launcher} sweep failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    result = {"wall": wall}
    stamps = _stamps(proc.stdout + proc.stderr)
    if {"check", "submit", "array"} <= stamps.keys():
        result["check"] = stamps["submit"] - stamps["check"]
        result["submit"] = stamps["array"] - stamps["submit"]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    opts = parser.parse_args(argv)

    with cluster_env() as env, tempfile.TemporaryDirectory(prefix="bench-slurm-") as tmp:
        app = Path(tmp) / "app.py"
        app.write_text(APP)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in LAUNCHERS}
        for r in range(opts.rounds):
            for name in LAUNCHERS:
                results[name].append(run_sweep(app, name, opts.jobs, env, Path(tmp)))
                print(f"round {r + 1}: {name:15s} {results[name][-1]['wall']:6.2f} s", flush=True)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    base = med("basic", "wall")
    load = os.getloadavg()[0]
    print(
        f"\n{opts.jobs} trivial jobs, median of {opts.rounds} round(s); node: {os.cpu_count()} cores, load {load:.1f}"
    )
    print(f"{'launcher':15s} {'sweep wall':>11s} {'x basic':>8s} {'per-job overhead':>17s}")
    for name in LAUNCHERS:
        wall = med(name, "wall")
        print(f"{name:15s} {wall:9.2f} s {wall / base:7.1f}x {(wall - base) / opts.jobs:14.3f} s")
    if all("submit" in r for r in results["lalm_slurm"]):
        check, submit = med("lalm_slurm", "check"), med("lalm_slurm", "submit")
        print(
            f"\nlalm_slurm: compose + check {opts.jobs} jobs {check:.2f} s ({check / opts.jobs * 1000:.0f} ms/job); "
            f"submission of the {opts.jobs}-job array {submit:.2f} s"
        )
        ours, upstream = med("lalm_slurm", "wall"), med("submitit_slurm", "wall")
        print(f"lalm_slurm / submitit_slurm sweep wall: {ours / upstream:.2f}x (target <= 1.0)")


if __name__ == "__main__":
    main()
