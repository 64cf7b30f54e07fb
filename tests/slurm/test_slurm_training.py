"""The tiny LALM trained through `hydra/launcher=slurm_cpu` on the real cluster: a sweep as one job
array, and requeue (from outside and by the warning signal) resuming in the same job dir."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from slurm_testing import Cluster, array_id_of, final_states, sweep_env

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# one CPU and thread per job; small batches so that the jobs take seconds, not minutes
SLURM_CPU = [
    "hydra/launcher=slurm_cpu",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.poll_interval_s=1",
    "experiment=tiny",
    "logger=csv",
    "trainer.limit_val_batches=1",
]


def _job_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("multirun/*/*/*/*") if p.is_dir() and not p.name.startswith("."))


def _record(job_dir: Path) -> dict[str, Any]:
    return json.loads((job_dir / "run.json").read_text())


def test_four_job_sweep_is_one_array_of_completed_jobs_with_metrics(slurm_cluster: Cluster, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lalm_framework.cli.train",
            "-m",
            *SLURM_CPU,
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=4",
            "lr=1e-3,2e-3,3e-3,4e-3",
        ],
        cwd=tmp_path,
        env=sweep_env(slurm_cluster),
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    array = array_id_of(out)
    assert final_states(slurm_cluster, array, 4) == ["COMPLETED"] * 4
    # the metric each job returned to the sweeper, in the summary table
    assert len(re.findall(r"│ COMPLETED │\s+\d+(?:\.\d+)? │", out)) == 4, out[-5000:]
    dirs = _job_dirs(tmp_path)
    assert [d.name for d in dirs] == ["0", "1", "2", "3"]
    for task, job_dir in enumerate(dirs):
        record = _record(job_dir)
        assert record["slurm"]["SLURM_ARRAY_JOB_ID"] == array
        assert record["slurm"]["SLURM_ARRAY_TASK_ID"] == str(task)
        assert record["metrics"]["val/loss"] > 0 and record["metrics"]["global_step"] == 4


def test_requeued_training_resumes_from_its_checkpoint_in_the_same_job_dir(
    slurm_cluster: Cluster, tmp_path: Path
) -> None:
    """Job 0: `scontrol requeue` (SIGTERM). Job 1: the warning signal (USR2, as before a timeout or
    a preemption). Job 2 runs uninterrupted: the reference."""
    epochs, batches = 4, 15
    sweep_log = tmp_path / "sweep.log"
    with sweep_log.open("w") as log_file:
        sweep = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lalm_framework.cli.train",
                "-m",
                *SLURM_CPU,
                f"trainer.max_epochs={epochs}",
                f"trainer.limit_train_batches={batches}",
                "seed=7,7,7",
            ],
            cwd=tmp_path,
            env=sweep_env(slurm_cluster),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    signals = {0: ["scontrol", "requeue"], 1: ["scancel", "--signal=USR2"]}
    try:
        # each job is interrupted as soon as its first epoch is saved: mid-training for sure
        deadline = time.monotonic() + 300
        while signals:
            assert time.monotonic() < deadline and sweep.poll() is None, "jobs 0 and 1 never finished an epoch"
            for task in sorted(signals):
                if any(tmp_path.glob(f"multirun/*/*/*/{task}/checkpoints/epoch000-*.ckpt")):
                    array = slurm_cluster.run("squeue", "-h", "-o", "%F").split()[0]
                    slurm_cluster.run(*signals.pop(task), f"{array}_{task}")
            time.sleep(0.2)
        sweep.wait(timeout=500)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    out = sweep_log.read_text()
    assert sweep.returncode == 0, out[-5000:]
    assert array_id_of(out) == array
    assert final_states(slurm_cluster, array, 3) == ["COMPLETED"] * 3

    dirs = _job_dirs(tmp_path)
    assert [d.name for d in dirs] == ["0", "1", "2"]  # the requeued jobs made no second job dir
    reference = _record(dirs[2])
    assert len(reference["attempts"]) == 1
    assert reference["metrics"]["global_step"] == epochs * batches
    for task, why in ((0, "SIGTERM"), (1, "warning signal")):
        record = _record(dirs[task])
        # submitit's folder of the job: Python logging goes to the .out log, tracebacks to .err
        log = "".join(p.read_text() for p in tmp_path.glob(f"multirun/*/*/*/.submitit/{array}_{task}/*_log.*"))
        saved = re.search(rf"{why}: saved (\S+) at global step (\d+)", log)
        assert saved, f"job {task}: no checkpoint saved on {why}:\n{log[-3000:]}"
        assert saved.group(1) == str(dirs[task] / "checkpoints" / "last.ckpt")
        assert 0 < int(saved.group(2)) < epochs * batches  # interrupted mid-training
        assert len(record["attempts"]) == 2 and record["slurm"]["SLURM_RESTART_COUNT"] == "1"
        assert record["attempts"][1]["resumed_from"] == saved.group(1)
        assert record["metrics"]["global_step"] == reference["metrics"]["global_step"]
