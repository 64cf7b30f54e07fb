"""`hydra/launcher=slurm_gpu` end to end on the test cluster, whose nodes advertise 2 GPUs each as
GRES (links to /dev/null: SLURM allocates them and sets CUDA_VISIBLE_DEVICES, nothing computes).

Lightning runs one task per GPU and picks each rank's GPU by its local rank among the GPUs the
task sees, so the preset asks for `gpus_per_node` (every task of a node sees the node's GPUs): a
2-task job gets 2 GPUs, and its two ranks use 2 distinct ones. (Per-task binding, `srun
--gpus-per-task=1`, is checked in test_local_cluster.py; with Lightning it cannot serve
`trainer.devices` > 1, which the request check says.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from slurm_testing import Cluster, run_sweep

pytestmark = pytest.mark.slurm

TOY = Path(__file__).with_name("toy_app.py")
GPU_JOB = ["-m", "hydra/launcher=slurm_gpu", "trainer.accelerator=gpu", "hydra.launcher.cpus_per_task=1"]
GPU_JOB += ["hydra.launcher.timeout_min=10", "hydra.launcher.poll_interval_s=1", "x=1"]
TASK_LINE = re.compile(r"toy task: rank (\d) local (\d) node (\S+) CUDA_VISIBLE_DEVICES=(\S*)")


def test_slurm_gpu_preset_gives_each_rank_of_a_two_task_job_its_own_gpu(slurm_cluster: Cluster, tmp_path: Path) -> None:
    proc = run_sweep(
        [*GPU_JOB, "trainer.devices=2"],
        tmp_path,
        slurm_cluster,
        app=TOY,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    (ledger,) = tmp_path.glob("multirun/*/*/.submitit/lalm_slurm_jobs.jsonl")
    job_id = json.loads(ledger.read_text().splitlines()[0])["job_id"]
    script = (ledger.parent / job_id / f"{job_id}_submission.sh").read_text()
    assert "#SBATCH --gpus-per-node=2" in script and "#SBATCH --ntasks-per-node=2" in script
    tres = slurm_cluster.run("sacct", "-X", "-n", "-P", "-j", job_id, "-o", "State,AllocTRES").strip()
    assert tres.startswith("COMPLETED|") and "gres/gpu=2" in tres, tres
    tasks = {}
    for log in (ledger.parent / job_id).glob(f"{job_id}_*_log.out"):
        for rank, local, node, visible in TASK_LINE.findall(log.read_text()):
            tasks[int(rank)] = (int(local), node, visible)
    assert sorted(tasks) == [0, 1]
    (visible,) = {v for _, _, v in tasks.values()}  # the job's 2 GPUs, seen by both tasks of the node
    assert sorted(visible.split(",")) == ["0", "1"]
    # the GPU each rank uses: its local rank's entry (what Lightning picks): two distinct ids
    used = {rank: visible.split(",")[local] for rank, (local, _, _) in tasks.items()}
    assert sorted(used.values()) == ["0", "1"]


def test_a_gpu_request_no_node_has_is_refused_with_the_pending_reason(slurm_cluster: Cluster, tmp_path: Path) -> None:
    proc = run_sweep(
        [*GPU_JOB, "trainer.devices=4"],
        tmp_path,
        slurm_cluster,
        app=TOY,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    # 4 GPUs per node on nodes of 2: sbatch refuses it, or SLURM would keep it pending forever
    assert "sbatch refused the job" in out or "will never start" in out, out[-3000:]
    assert "gpus_per_node=4" in out
