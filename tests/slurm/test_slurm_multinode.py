"""Multi-node DDP on the real two-node test cluster: the tiny LALM over gloo, one rank per node.

`lalm-train hydra/launcher=slurm_cpu trainer=ddp trainer.accelerator=cpu trainer.devices=1
trainer.num_nodes=2` (the command of docs/slurm.md, without `-m`: a launcher implies it) runs one
SLURM job of two tasks; each task is one Lightning rank on its own node.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from slurm_testing import Cluster, final_states, run_sweep, sweep_env

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

DDP_TWO_NODES = [
    "hydra/launcher=slurm_cpu",
    "trainer=ddp",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.num_nodes=2",
]
# one CPU per rank, little memory, validation kept short; the train split is used in full
SMALL = [
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.poll_interval_s=1",
    "trainer.limit_val_batches=1",
    "logger=csv",
]
RANK_LINE = re.compile(r"lalm_slurm: SLURM job (\S+), rank (\d+) of (\d+) on node (\S+)")


def _job_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("multirun/*/*/*/*") if p.is_dir() and not p.name.startswith("."))


def _record(job_dir: Path) -> dict[str, Any]:
    return json.loads((job_dir / "run.json").read_text())


def _job_id(record: dict[str, Any]) -> str:
    """The job's id as submitit names its folder: `<array>_<task>` for array tasks."""
    slurm = record["slurm"]
    if slurm.get("SLURM_ARRAY_JOB_ID"):
        return f"{slurm['SLURM_ARRAY_JOB_ID']}_{slurm['SLURM_ARRAY_TASK_ID']}"
    return str(slurm["SLURM_JOB_ID"])


def _ranks(sweep_dir: Path, job_id: str) -> dict[int, str]:
    """rank -> node, from the first line each task of SLURM job `job_id` wrote to its log."""
    ranks = {}
    for log in sorted((sweep_dir / ".submitit" / job_id).glob(f"{job_id}_*_log.out")):
        for job, rank, world, node in RANK_LINE.findall(log.read_text()):
            assert job == job_id and world == "2"
            ranks[int(rank)] = node
    return ranks


def test_two_node_ddp_job_one_rank_per_node_one_record_same_steps_as_one_process(
    slurm_cluster: Cluster, tmp_path: Path
) -> None:
    (tmp_path / "ddp").mkdir()
    proc = run_sweep([*DDP_TWO_NODES, *SMALL, "trainer.max_epochs=1"], tmp_path / "ddp", slurm_cluster)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert "running as one (-m)" in proc.stderr  # the launcher implied the multirun
    (job_dir,) = _job_dirs(tmp_path / "ddp")  # one job, one job dir
    record = _record(job_dir)
    job_id = _job_id(record)
    assert _ranks(job_dir.parent, job_id) == {0: "lalm-n1", 1: "lalm-n2"}  # each rank on its own node
    assert record["slurm"]["SLURM_NODELIST"] == "lalm-n[1-2]" and record["slurm"]["SLURM_PROCID"] == "0"
    assert len(record["attempts"]) == 1 and record["attempts"][0]["status"] == "completed"
    assert list(job_dir.glob("run.json")) == [job_dir / "run.json"]  # rank 1 wrote none
    assert final_states(slurm_cluster, job_id, 1) == ["COMPLETED"]

    # the same training in one process with the same global batch (2 ranks x 8 = 16)
    single = subprocess.run(
        [sys.executable, "-m", "lalm_framework.cli.train", "trainer.max_epochs=1", "trainer.limit_val_batches=1"]
        + ["logger=csv", "dataset.batch_size=16", f"hydra.run.dir={tmp_path / 'single'}"],
        cwd=tmp_path,
        env=sweep_env(slurm_cluster),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    steps = _record(tmp_path / "single")["metrics"]["global_step"]
    assert steps > 1 and record["metrics"]["global_step"] == steps


def test_multirun_of_two_two_node_jobs_runs_four_ranks(slurm_cluster: Cluster, tmp_path: Path) -> None:
    proc = run_sweep(
        ["-m", *DDP_TWO_NODES, *SMALL, "trainer.max_epochs=1", "trainer.limit_train_batches=3", "seed=1,2"],
        tmp_path,
        slurm_cluster,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    dirs = _job_dirs(tmp_path)
    assert [d.name for d in dirs] == ["0", "1"]
    placements = []
    for job_dir in dirs:
        record = _record(job_dir)
        job_id = _job_id(record)
        placements.append(_ranks(job_dir.parent, job_id))
        assert record["metrics"]["global_step"] == 3
        assert final_states(slurm_cluster, job_id, 1) == ["COMPLETED"]
    assert placements == [{0: "lalm-n1", 1: "lalm-n2"}] * 2  # 4 ranks: each job across both nodes


def test_requeued_two_node_job_resumes_both_ranks_from_one_checkpoint(slurm_cluster: Cluster, tmp_path: Path) -> None:
    epochs, batches = 3, 12
    log_path = tmp_path / "sweep.log"
    with log_path.open("w") as log_file:
        sweep = subprocess.Popen(
            [sys.executable, "-m", "lalm_framework.cli.train", "-m", *DDP_TWO_NODES, *SMALL]
            + [f"trainer.max_epochs={epochs}", f"trainer.limit_train_batches={batches}"],
            cwd=tmp_path,
            env=sweep_env(slurm_cluster),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 300
        while not any(tmp_path.glob("multirun/*/*/*/0/checkpoints/epoch000-*.ckpt")):
            assert time.monotonic() < deadline and sweep.poll() is None, log_path.read_text()[-3000:]
            time.sleep(0.2)
        job_id = slurm_cluster.run("squeue", "-h", "-o", "%i").split()[0]
        slurm_cluster.run("scontrol", "requeue", job_id)  # SIGTERM to both ranks, then requeue
        sweep.wait(timeout=500)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    out = log_path.read_text()
    assert sweep.returncode == 0, out[-5000:]
    (job_dir,) = _job_dirs(tmp_path)  # the requeued job kept its job dir
    record = _record(job_dir)
    last = str(job_dir / "checkpoints" / "last.ckpt")
    logs = _all_logs(job_dir.parent, job_id)
    why = f"attempts: {record['attempts']}\nlogs: {logs[-6000:]}"
    assert record["slurm"]["SLURM_RESTART_COUNT"] == "1" and len(record["attempts"]) == 2, why
    # the first attempt stopped on the signal, not on a rank that left ("Connection closed by peer")
    assert record["attempts"][0]["status"] == "interrupted", why
    assert record["attempts"][1]["resumed_from"] == last, why  # rank 0
    rank1 = "".join(p.read_text() for p in (job_dir.parent / ".submitit" / job_id).glob(f"{job_id}_1_log.*"))
    assert f"Resuming from {last}" in rank1  # rank 1 resumed from the same file
    saved = re.search(r"SIGTERM: saved (\S+) at global step (\d+)", logs)
    assert saved and saved.group(1) == last and 0 < int(saved.group(2)) < epochs * batches, why
    assert record["metrics"]["global_step"] == epochs * batches  # as far as an uninterrupted run
    assert final_states(slurm_cluster, job_id, 1) == ["COMPLETED"]


def _all_logs(sweep_dir: Path, job_id: str) -> str:
    return "".join(p.read_text() for p in sorted((sweep_dir / ".submitit" / job_id).glob("*_log.*")))
