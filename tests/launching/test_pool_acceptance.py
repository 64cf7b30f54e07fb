"""Issue 4 acceptance: GPU leases, failures + retries, SIGTERM, fresh processes, thread caps."""

from __future__ import annotations

import json
import os
import signal
import time
from itertools import combinations
from pathlib import Path

import psutil
import pytest
from omegaconf import OmegaConf


def _seen(sweep: Path, name: str = "seen.json") -> list:
    return [json.loads(p.read_text()) for p in sorted(sweep.glob(f"*/{name}"))]


def test_fake_gpus_never_shared_and_fresh_processes(pool_app, tmp_path: Path) -> None:
    proc = pool_app(
        [
            "+x=1,2,3,4",
            "+s=0.4",
            "hydra.launcher.gpus=[0,1]",
            "hydra.launcher.jobs_per_gpu=1",
            "hydra.launcher.n_jobs=4",
        ]
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    seen = _seen(tmp_path / "sweep")
    assert len(seen) == 4
    assert all(s["cuda"] in ("0", "1") for s in seen), seen
    for a, b in combinations(seen, 2):  # same id => the two jobs' lifetimes do not overlap
        if a["cuda"] == b["cuda"]:
            assert a["end"] <= b["start"] or b["end"] <= a["start"], (a, b)
    assert len({s["pid"] for s in seen}) == 4  # a fresh process per job
    assert all(len(s["leak"]) == 1 for s in seen)  # no module state carried over
    # n_jobs=4 asked, but 2 ids x 1 job each allow only 2 at once: the line never says 3 or 4
    assert "running 2 " in out + err and "running 3 " not in out + err


def test_thread_caps_follow_cores_per_job(pool_app, tmp_path: Path) -> None:
    from lalm_framework.launching.pool.threads import THREAD_VARS, available_cores

    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    proc = pool_app(["+x=1,2", "hydra.launcher.gpus=null", "hydra.launcher.n_jobs=2"], env=env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    expected = str(max(1, available_cores() // 2))
    assert [s["omp"] for s in _seen(tmp_path / "sweep")] == [expected, expected]


def test_preloaded_torch_is_in_every_job_with_its_thread_cap(pool_app, tmp_path: Path) -> None:
    from lalm_framework.launching.pool.threads import THREAD_VARS

    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    proc = pool_app(
        ["+x=1,2", "hydra.launcher.gpus=null", "hydra.launcher.n_jobs=2", "hydra.launcher.preload=[torch]"], env
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    seen = _seen(tmp_path / "sweep")
    # the job found torch imported (it never imports it) and capped to its share of the cores
    assert [s["torch_threads"] for s in seen] == [int(s["omp"]) for s in seen] and len(seen) == 2
    assert all(len(s["leak"]) == 1 for s in seen) and len({s["pid"] for s in seen}) == 2


def test_thread_caps_keep_user_values() -> None:
    from lalm_framework.launching.pool.threads import thread_cap_env

    caps = thread_cap_env(parallel_jobs=2, threads_per_job=None, environ={"OMP_NUM_THREADS": "3"})
    assert "OMP_NUM_THREADS" not in caps and caps["MKL_NUM_THREADS"] == caps["OPENBLAS_NUM_THREADS"]
    assert thread_cap_env(parallel_jobs=64, threads_per_job=None, environ={})["OMP_NUM_THREADS"] == "1"
    assert thread_cap_env(parallel_jobs=2, threads_per_job=5, environ={})["OMP_NUM_THREADS"] == "5"


def test_failing_job_does_not_stop_others_and_retries(pool_app, tmp_path: Path) -> None:
    proc = pool_app(
        [
            "+x=1,2,3,4",
            "+fail=[3]",
            "+flaky=[4]",
            "hydra.launcher.max_retries=1",
            "hydra.launcher.n_jobs=2",
            "hydra.launcher.gpus=null",
        ]
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    sweep = tmp_path / "sweep"
    assert sorted(s["x"] for s in _seen(sweep)) == [1, 2, 4]  # the flaky one passed on its retry
    failed_log = sweep / "2" / "job_output.log"
    assert "ValueError: job x=3 fails on purpose" in failed_log.read_text()
    assert failed_log.read_text().count("job 3 running") == 2  # both attempts, appended
    summary = err[err.index("lalm_pool summary") :]
    row = next(line for line in summary.splitlines() if "+x=3" in line)
    assert "FAILED (2 tries)" in row and "job x=3 fails on purpose" in row
    assert str(failed_log)[:20] in summary  # the log path is in the table (rich may fold it)
    assert "job_output.log" in row or "job_output.log" in summary
    assert sum("COMPLETED" in line for line in summary.splitlines()) == 3
    # the launcher's output ends with the summary and one short error, not the job's traceback
    assert "Traceback" not in err and "Error: Job #2 (+x=3" in summary and "after 2 tries" in summary


def test_job_killed_from_outside_ends_in_summary_and_short_error(pool_app, tmp_path: Path) -> None:
    # issue 11 #15: kill -9 of a job's process; job x=1 ends at once, x=2 would sleep a minute
    proc = pool_app(["+x=1,2", "+s=60", "+quick=[1]", "hydra.launcher.n_jobs=2", "hydra.launcher.gpus=null"])
    started = tmp_path / "sweep" / "1" / "started.json"
    deadline = time.time() + 60
    while not started.exists() and time.time() < deadline:
        time.sleep(0.1)
    os.kill(json.loads(started.read_text())["pid"], signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in out + err
    tail = err[err.index("lalm_pool summary") :].strip().splitlines()
    row = next(line for line in tail if "+x=2" in line)
    assert "FAILED" in row and "SIGKILL" in row
    assert "COMPLETED" in next(line for line in tail if "+x=1" in line)
    errors = [line for line in tail if line.startswith("Error:")]
    assert len(errors) == 1 and "Job #1 (+x=2 +s=60 +quick=[1]) failed" in errors[0] and "SIGKILL" in errors[0]
    assert len(tail[tail.index(errors[0]) :]) <= 4  # the short message is the end of the output


def test_sigterm_stops_every_child_and_keeps_finished_jobs(pool_app, tmp_path: Path) -> None:
    # job 0 (x=1) ends at once and its dir must stay intact; jobs 1 and 2 are running at the signal
    proc = pool_app(
        [
            "+x=1,2,3,4",
            "+s=300",
            "+quick=[1]",
            "+grandchild=true",
            "hydra.launcher.n_jobs=2",
            "hydra.launcher.gpus=null",
            "hydra.launcher.kill_grace_s=3",
        ]
    )
    sweep = tmp_path / "sweep"
    deadline = time.time() + 60
    while len(list(sweep.glob("*/started.json"))) < 3 and time.time() < deadline:
        time.sleep(0.1)
    started = _seen(sweep, "started.json")
    assert len(started) == 3, proc.stderr.read() if proc.poll() is not None else "jobs did not start"
    family = psutil.Process(proc.pid).children(recursive=True)
    pids = {p.pid for p in family} | {s["pid"] for s in started} | {s["grandchild"] for s in started}
    assert len(pids) >= 4
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    time.sleep(0.2)
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    assert not alive, f"survivors: {alive}"
    assert "INTERRUPTED" in err
    assert [s["x"] for s in _seen(sweep)] == [1]  # the finished job's outputs are left as they were
    for s in started:
        assert (sweep / str(s["x"] - 1) / ".hydra" / "config.yaml").is_file()
    assert not (sweep / "3").exists()  # never started


@pytest.mark.slow
def test_jobs_of_new_shapes_each_get_their_own_config(pool_app, tmp_path: Path) -> None:
    # a list value makes each job a new config shape: the template composes the first ones, then
    # (JobConfigs.MAX_MISSES) leaves composing to each job's process; every job has its own config
    sweep_arg = "+v=" + ",".join(f"[{i}]" for i in range(10))
    proc = pool_app(["+x=1,2", sweep_arg, "hydra.launcher.n_jobs=2", "hydra.launcher.gpus=null"])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert sorted(s["x"] for s in _seen(tmp_path / "sweep")) == [1] * 10 + [2] * 10
    for num in range(20):
        job = tmp_path / "sweep" / str(num) / ".hydra"
        x, v = 1 + num // 10, num % 10  # the sweep's order: the last override varies fastest
        config = OmegaConf.load(job / "config.yaml")
        assert (config.x, list(config.v)) == (x, [v])
        assert list(OmegaConf.load(job / "overrides.yaml")) == [f"+x={x}", f"+v=[{v}]"]
        hydra_job = OmegaConf.load(job / "hydra.yaml").hydra.job
        assert (hydra_job.num, hydra_job.override_dirname) == (num, f"+v=[{v}],+x={x}")
