"""Local launchers side by side: basic, joblib, lalm_pool (issue 4's three figures).

    python benchmarks/bench_launchers.py [--quick] [--only hetero,cpu,overhead]

1. heterogeneous sweep: 8 jobs sleeping 1..8 s on 2 workers; makespan / ideal list-scheduling
   makespan (20 s; the basic launcher runs them one after another: 36 s);
2. two CPU-bound torch jobs on 2 cores (timed from the first job's compute start to the last
   one's end): speed-up of lalm_pool over running them one after the other (1 thread each),
   over joblib, over lalm_pool with 2 threads per job (what no thread caps gives here) and over
   lalm_pool without `preload` (each job imports torch after its fork); per job, when its
   process was created, entered the task and ended, relative to the first compute start;
3. per-job overhead of 32 empty jobs: (T(32 jobs) - T(1 job)) / 31, wall and CPU (the launcher
   and all its processes: CPU time does not grow with other users' load), with ratios against
   basic and joblib.
Every figure is a ratio of runs made in this process one after the other, so machine load
shared with other users hits all launchers alike (run it twice to see the noise).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

APP = textwrap.dedent("""
    import json, os, time
    import hydra
    from hydra.core.hydra_config import HydraConfig

    def burn(steps):
        import torch
        t0 = time.time()  # compute only: a fresh process also pays torch's import, a reused one not
        torch.manual_seed(0)
        net = torch.nn.Sequential(*[torch.nn.Linear(128, 128) for _ in range(4)])
        opt = torch.optim.SGD(net.parameters(), lr=1e-3)
        x = torch.randn(32, 128)
        for _ in range(steps):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
        return torch.get_num_threads(), t0

    @hydra.main(version_base=None, config_path=None, config_name=None)
    def main(cfg):
        t0 = entry = time.time()
        threads = None
        if cfg.get("sleep"):
            time.sleep(float(cfg.sleep))
        if cfg.get("steps"):
            threads, t0 = burn(int(cfg.steps))
        import psutil
        created = psutil.Process().create_time()  # the job process's fork (or start) time
        out = {"created": created, "entry": entry, "start": t0, "end": time.time(), "threads": threads}
        with open(os.path.join(HydraConfig.get().runtime.output_dir, "bench.json"), "w") as f:
            json.dump(out, f)
        return 0

    if __name__ == "__main__":
        main()
""")

LAUNCHERS = {
    "basic": ["hydra/launcher=basic"],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "lalm_pool": [
        "hydra/launcher=lalm_pool",
        "hydra.launcher.n_jobs=2",
        "hydra.launcher.gpus=null",
        "hydra.launcher.status_line=false",
    ],
}
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def run_sweep(workdir: Path, launcher: str, overrides: list[str], env: dict[str, str] | None = None) -> dict:
    """Run `app.py -m` once; wall time of the whole command and the jobs' own records."""
    sweep = Path(tempfile.mkdtemp(prefix=f"{launcher}-", dir=workdir))
    cmd = [sys.executable, str(workdir / "app.py"), "-m", f"hydra.sweep.dir={sweep}", *LAUNCHERS[launcher], *overrides]
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env or dict(os.environ), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"{launcher} failed:\n{proc.stderr[-2000:]}")
    jobs = [json.loads(p.read_text()) for p in sweep.glob("*/bench.json")]
    span = max(j["end"] for j in jobs) - min(j["start"] for j in jobs)
    t_first = min(j["start"] for j in jobs)
    return {
        "timeline": sorted(tuple(round(j[k] - t_first, 2) for k in ("created", "entry", "start", "end")) for j in jobs),
        "wall": wall,
        "span": span,
        "cpu": cpu,
        "jobs": len(jobs),
        "threads": sorted({j["threads"] for j in jobs}, key=str),
    }


def _children_cpu() -> float:
    """CPU seconds (user + sys) of all waited-for descendants: independent of other users' load."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def list_schedule_makespan(durations: list[float], workers: int) -> float:
    """Greedy list scheduling in the given order: each job goes to the first worker to free."""
    free = [0.0] * workers
    for d in durations:
        i = free.index(min(free))
        free[i] += d
    return max(free)


def bench_hetero(workdir: Path, scale: float) -> None:
    durations = [scale * s for s in range(1, 9)]
    ideal = list_schedule_makespan(durations, 2)
    print(
        f"\n[1] heterogeneous sweep: 8 jobs sleeping {durations[0]:g}..{durations[-1]:g} s, 2 workers; "
        f"ideal list-scheduling makespan {ideal:.2f} s (sequential {sum(durations):.2f} s)"
    )
    sweep_arg = "+sleep=" + ",".join(f"{d:g}" for d in durations)
    for name in ("basic", "joblib", "lalm_pool"):
        r = run_sweep(workdir, name, [sweep_arg])
        print(
            f"    {name:9s} command wall {r['wall']:6.2f} s  ratio {r['wall'] / ideal:5.3f} | "
            f"first start..last end {r['span']:6.2f} s  ratio {r['span'] / ideal:5.3f}"
        )


CPU_RUNS = ("sequential", "joblib", "threads2", "nopreload", "pool")


def bench_cpu(workdir: Path, steps: int, which: set[str]) -> None:
    print(f"\n[2] two CPU-bound torch jobs ({steps} training steps of a small MLP each) on 2 cores")
    uncapped = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    one = dict(uncapped, OMP_NUM_THREADS="1")
    jobs = [f"+steps={steps}", "+job=0,1"]
    plan = {
        "sequential": ("sequential, 1 thread (basic)", "basic", [], one),
        # joblib's loky backend caps worker threads itself (cores // n_jobs) unless told otherwise
        "joblib": ("joblib, thread vars unset", "joblib", [], uncapped),
        "threads2": ("lalm_pool, 2 threads/job", "lalm_pool", ["hydra.launcher.threads_per_job=2"], uncapped),
        # each forked job imports torch itself, both in the same seconds (before `preload`)
        "nopreload": ("lalm_pool, preload=[]", "lalm_pool", ["hydra.launcher.preload=[]"], uncapped),
        "pool": ("lalm_pool (caps itself)", "lalm_pool", [], uncapped),
    }
    runs = {
        label: run_sweep(workdir, launcher, jobs + extra, env)
        for key, (label, launcher, extra, env) in plan.items()
        if key in which
    }
    pool = runs.get("lalm_pool (caps itself)")
    for name, r in runs.items():
        ratio = (
            f"  -> lalm_pool speed-up {r['span'] / pool['span']:4.2f}x (span), {r['wall'] / pool['wall']:4.2f}x (wall)"
            if pool
            else ""
        )
        print(
            f"    {name:30s} jobs span {r['span']:6.2f} s  wall {r['wall']:6.2f} s  torch threads {r['threads']}{ratio}"
        )
        print(f"{'':8s}per job (created, task entry, compute start, end) s after the first start: {r['timeline']}")


def bench_overhead(workdir: Path, n: int, repeat: int) -> None:
    print(
        f"\n[3] per-job overhead: (T({n} empty jobs) - T(1 job)) / {n - 1}, median of {repeat} "
        "interleaved round(s); CPU s/job counts the launcher and all its processes"
    )
    walls: dict[str, list[float]] = {name: [] for name in LAUNCHERS}
    cpus: dict[str, list[float]] = {name: [] for name in LAUNCHERS}
    for _ in range(repeat):  # round-robin, so a load change hits every launcher alike
        for name in LAUNCHERS:
            one = run_sweep(workdir, name, ["+job=0"])
            many = run_sweep(workdir, name, ["+job=range(0," + str(n) + ")"])
            assert many["jobs"] == n
            walls[name].append((many["wall"] - one["wall"]) / (n - 1))
            cpus[name].append((many["cpu"] - one["cpu"]) / (n - 1))
    base = statistics.median(walls["basic"])
    joblib_wall, joblib_cpu = statistics.median(walls["joblib"]), statistics.median(cpus["joblib"])
    for name in LAUNCHERS:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(
            f"    {name:9s} {wall:.3f} s/job (x{wall / base:4.2f} of basic, x{wall / joblib_wall:4.2f} of joblib)  "
            f"CPU {cpu:.3f} s/job (x{cpu / joblib_cpu:4.2f} of joblib)  "
            f"[rounds: {', '.join(f'{w:.3f}' for w in walls[name])}]"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter jobs (smoke test of the script)")
    parser.add_argument("--only", default="hetero,cpu,overhead")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the overhead figure")
    parser.add_argument(
        "--cpu-steps", type=int, default=6000, help="training steps per CPU-bound job (6000: ~1.5 s alone on one core)"
    )
    parser.add_argument(
        "--cpu-runs",
        default=",".join(CPU_RUNS),
        help=f"runs of figure 2 (threads2 is very slow on a busy machine): {','.join(CPU_RUNS)}",
    )
    args = parser.parse_args()
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    with tempfile.TemporaryDirectory(prefix="bench_launchers-") as tmp:
        workdir = Path(tmp)
        (workdir / "app.py").write_text(APP)
        print(
            f"python {sys.version.split()[0]}, {len(os.sched_getaffinity(0))} cores, "
            f"load average {os.getloadavg()[0]:.2f} at start"
        )
        only = set(args.only.split(","))
        if "hetero" in only:
            bench_hetero(workdir, 0.25 if args.quick else 1.0)
        if "cpu" in only:
            bench_cpu(workdir, 300 if args.quick else args.cpu_steps, set(args.cpu_runs.split(",")))
        if "overhead" in only:
            bench_overhead(workdir, 8 if args.quick else 32, args.repeat)
        print(f"\nload average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
