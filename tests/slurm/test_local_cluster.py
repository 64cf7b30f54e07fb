"""The test cluster itself: accounting works (submitit depends on sacct), and the script is safe."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from slurm_testing import SCRIPT, Cluster, wait_final


@pytest.mark.slurm
def test_batch_jobs_end_with_their_exit_status_in_sacct(slurm_cluster: Cluster, tmp_path: Path) -> None:
    ok = slurm_cluster.run("sbatch", "--parsable", "-o", str(tmp_path / "%j.out"), "--wrap", "true").strip()
    bad = slurm_cluster.run("sbatch", "--parsable", "-o", str(tmp_path / "%j.out"), "--wrap", "exit 3").strip()
    assert wait_final(slurm_cluster, ok) == "COMPLETED"
    assert wait_final(slurm_cluster, bad) == "FAILED"


@pytest.mark.slurm
def test_two_nodes_one_task_each_and_gpus_as_gres(slurm_cluster: Cluster) -> None:
    """Two slurmd on this machine: `srun -N2` puts one task on each node; GPUs are GRES (links to
    /dev/null): each task of `--gpus-per-task=1` sees its own CUDA_VISIBLE_DEVICES."""
    assert sorted(set(slurm_cluster.run("sinfo", "-h", "-N", "-o", "%N %T %G").splitlines())) == [
        "lalm-n1 idle gpu:2",
        "lalm-n2 idle gpu:2",
    ]
    tasks = slurm_cluster.run(
        "srun", "-N2", "-n2", "bash", "-c", "echo $SLURM_PROCID $SLURM_NODEID $SLURMD_NODENAME $SLURM_JOB_NODELIST"
    )
    assert sorted(tasks.splitlines()) == ["0 0 lalm-n1 lalm-n[1-2]", "1 1 lalm-n2 lalm-n[1-2]"]
    gpus = slurm_cluster.run(
        "srun", "-N1", "-n2", "--gpus-per-task=1", "bash", "-c", "echo $SLURM_PROCID $CUDA_VISIBLE_DEVICES"
    )
    ids = dict(line.split() for line in gpus.splitlines())
    assert sorted(ids) == ["0", "1"] and sorted(ids.values()) == ["0", "1"]  # one GPU each, distinct


def test_stop_and_status_are_safe_where_nothing_runs(tmp_path: Path) -> None:
    """`stop` of a state dir with no cluster kills nothing and succeeds; `status` says stopped."""
    (tmp_path / "run").mkdir()
    # a stale pid file naming a live process that is not a SLURM daemon (this shell's child)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "run" / "slurmctld.pid").write_text(str(sleeper.pid))
        stop = subprocess.run(["bash", str(SCRIPT), "stop", str(tmp_path)], capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0, stop.stderr
        assert sleeper.poll() is None, "stop killed a process that is not one of its daemons"
        status = subprocess.run(
            ["bash", str(SCRIPT), "status", str(tmp_path)], capture_output=True, text=True, timeout=60
        )
        assert status.returncode == 1 and "slurmctld stopped" in status.stdout
    finally:
        sleeper.kill()
    usage = subprocess.run(["bash", str(SCRIPT), "restart"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "usage" in usage.stderr
