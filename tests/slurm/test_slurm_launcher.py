"""The lalm_slurm launcher against the real cluster: honest states, validation, bad requests.

The toy Hydra app (no torch) keeps the launcher-only tests at a few seconds each; the tiny LALM
runs in test_slurm_training.py.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
from slurm_testing import Cluster, array_id_of, final_states, next_second, run_sweep, start_sweep, wait_until

pytestmark = pytest.mark.slurm

TOY = Path(__file__).with_name("toy_app.py")
TOY_LAUNCHER = ["hydra/launcher=lalm_slurm", "hydra.launcher.timeout_min=5", "hydra.launcher.poll_interval_s=0.5"]


def test_raising_job_ends_failed_in_sacct_with_summary_and_exit_code(slurm_cluster: Cluster, tmp_path: Path) -> None:
    proc = run_sweep(["-m", *TOY_LAUNCHER, "x=3", "fail=false,true"], tmp_path, slurm_cluster, app=TOY)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    array = array_id_of(out)
    assert sorted(final_states(slurm_cluster, array, 2)) == ["COMPLETED", "FAILED"]  # not COMPLETED twice
    assert "lalm_slurm summary" in out
    assert "Job #1 (x=3 fail=True) ended FAILED in SLURM" in out and "ValueError: boom at x=3" in out
    err_log = next(tmp_path.glob(f"multirun/*/*/.submitit/{array}_1/{array}_1_0_log.err"))
    assert "ValueError: boom at x=3" in err_log.read_text()  # the error is in the job's log
    assert f"{array}_1_0_log.err" in out  # and the summary points there


def test_unknown_partition_is_a_short_error_at_submission(slurm_cluster: Cluster, tmp_path: Path) -> None:
    since = next_second()
    t0 = time.monotonic()
    proc = run_sweep(
        ["-m", *TOY_LAUNCHER, "hydra.launcher.partition=no_such_partition", "x=1,2"], tmp_path, slurm_cluster, app=TOY
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and time.monotonic() - t0 < 60, out
    assert "sbatch refused the job array" in out and "Invalid partition" in out, out
    assert "partition=no_such_partition" in out  # the message shows the request to fix
    assert slurm_cluster.jobs_submitted_since(since) == []
    # nothing submitted, nothing left behind: no pickles or sbatch script of the refused array
    (submitit,) = tmp_path.glob("multirun/*/*/.submitit")
    assert sorted(p.name for p in submitit.iterdir()) == []


def test_impossible_resources_cancel_the_array_instead_of_hanging(slurm_cluster: Cluster, tmp_path: Path) -> None:
    # more CPUs per task than the node has: sbatch accepts it (no EnforcePartLimits, SLURM's
    # default) and the job would stay PENDING forever
    t0 = time.monotonic()
    proc = run_sweep(
        ["-m", *TOY_LAUNCHER, "hydra.launcher.cpus_per_task=512", "x=1,2"],
        tmp_path,
        slurm_cluster,
        app=TOY,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and time.monotonic() - t0 < 60, out
    assert "will never start" in out and "PartitionConfig" in out and "cpus_per_task=512" in out, out
    array = array_id_of(out)
    assert slurm_cluster.run("squeue", "-h", "-j", array, check=False).strip() == ""
    assert set(s.split()[0] for s in slurm_cluster.sacct_states(array)) <= {"CANCELLED"}


def test_lalm_sweep_with_an_invalid_third_job_submits_nothing(slurm_cluster: Cluster, tmp_path: Path) -> None:
    since = next_second()
    proc = run_sweep(
        ["-m", "hydra/launcher=slurm_cpu", "experiment=digits", "trainer.max_epochs=1,2,oops"], tmp_path, slurm_cluster
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Job #2 (experiment=digits trainer.max_epochs=oops) is invalid" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert slurm_cluster.jobs_submitted_since(since) == []  # zero jobs reached sacct


def test_request_that_does_not_fit_the_trainer_submits_nothing(slurm_cluster: Cluster, tmp_path: Path) -> None:
    since = next_second()
    proc = run_sweep(["-m", *TOY_LAUNCHER, "hydra.launcher.gpus_per_node=1", "x=1,2"], tmp_path, slurm_cluster, app=TOY)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Job #0 (x=1): the SLURM request does not fit the job" in out, out
    assert "asks SLURM for GPUs" in out and "trainer.accelerator=cpu" in out
    assert slurm_cluster.jobs_submitted_since(since) == []


@pytest.mark.parametrize(
    "sig, cancel_on_exit", [(signal.SIGINT, True), (signal.SIGTERM, True), (signal.SIGTERM, False)]
)
def test_stopping_the_sweep_cancels_its_jobs(
    slurm_cluster: Cluster, tmp_path: Path, sig: signal.Signals, cancel_on_exit: bool
) -> None:
    """Ctrl-C / SIGTERM to the sweep: its running and pending jobs are scancelled (the default)."""
    log = tmp_path / "sweep.log"
    # 2 CPUs each on 8: 4 jobs run, 4 wait
    args = ["-m", *TOY_LAUNCHER, "hydra.launcher.cpus_per_task=2", "sleep=600", "x=range(8)"]
    sweep = start_sweep([*args, f"hydra.launcher.cancel_on_exit={cancel_on_exit}"], tmp_path, slurm_cluster, log, TOY)
    try:
        wait_until("the array", lambda: "lalm_slurm: array job" in log.read_text(), proc=sweep)
        array = array_id_of(log.read_text())

        def states() -> list[str]:
            return slurm_cluster.run("squeue", "-h", "-r", "-j", array, "-o", "%T", check=False).split()

        wait_until("4 running jobs", lambda: states().count("RUNNING") == 4, proc=sweep)
        assert states().count("PENDING") == 4
        sweep.send_signal(sig)
        assert sweep.wait(timeout=120) == 128 + sig
    finally:
        if sweep.poll() is None:
            sweep.kill()
    out = log.read_text()
    if cancel_on_exit:
        assert re.search(rf"{sig.name} received: cancelling 8 job\(s\) still in SLURM", out), out[-3000:]
        assert states() == []  # squeue shows none of the sweep's jobs
        assert out.count("│ CANCELLED │") == 8  # the summary says so
        assert "Traceback" not in out
    else:
        assert "8 job(s) keep running in SLURM (cancel_on_exit=false)" in out, out[-3000:]
        assert sorted(states()) == ["PENDING"] * 4 + ["RUNNING"] * 4
        slurm_cluster.run("scancel", array)
