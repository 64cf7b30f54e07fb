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
    nodes = slurm_cluster.run("sinfo", "-h", "-N", "-o", "%N").split()
    assert nodes and set(nodes) == {subprocess.run(["hostname", "-s"], capture_output=True, text=True).stdout.strip()}


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
