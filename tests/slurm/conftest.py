"""A real single-node SLURM cluster for the tests of this directory, started once per session.

`local_cluster.sh` (next to this file) installs what it needs (apt), starts munge, MariaDB,
slurmdbd, slurmctld and slurmd under a private state dir and stops them by their pid files.
Where that is impossible (not root, no apt, not Linux) the tests skip and say why.
Set LALM_SLURM_KEEP=1 to leave the cluster running after the session (for debugging;
stop it with `local_cluster.sh stop <state dir>`).
"""
from __future__ import annotations

import atexit
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

import pytest

SCRIPT = Path(__file__).with_name("local_cluster.sh")
CANNOT_RUN_HERE = 3  # local_cluster.sh's exit code for "impossible on this machine"


@dataclass
class Cluster:
    """A running cluster: its state dir and the environment its clients need."""

    state: Path
    slurm_conf: Path

    def run(self, *cmd: str, check: bool = True) -> str:
        """Run a SLURM client command (sacct, squeue, scontrol...) against this cluster."""
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60,
                             env={**os.environ, "SLURM_CONF": str(self.slurm_conf)})
        if check and out.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    def sacct_states(self, job_id: str) -> List[str]:
        """`sacct` states of a job (or of every task of an array), one per allocation."""
        out = self.run("sacct", "-X", "-n", "-P", "-j", str(job_id), "-o", "JobID,State")
        return [line.split("|")[1] for line in out.splitlines() if line.strip()]

    def all_job_ids(self) -> List[str]:
        """Every job this cluster's accounting has seen (all users, all states)."""
        out = self.run("sacct", "-X", "-n", "-a", "-P", "-S", "2000-01-01", "-o", "JobID")
        return [line for line in out.splitlines() if line.strip()]


def _free_port_base() -> int:
    """First base port from 6817 on with the 4 ports the cluster uses free (no clash with a
    cluster another test session runs at the same time)."""
    for base in range(6817, 7817, 10):
        try:
            for port in range(base, base + 4):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free ports for the SLURM test cluster between 6817 and 7817")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Start the cluster (skip where impossible), point SLURM_CONF at it, stop it at the end."""
    # A short path: the munge socket lives in it (unix socket paths are limited to 107 bytes).
    state = Path(os.environ.get("LALM_SLURM_STATE") or tmp_path_factory.mktemp("slurm"))
    env = {**os.environ, "LALM_SLURM_PORT_BASE": str(_free_port_base())}
    started = subprocess.run(["bash", str(SCRIPT), "start", str(state)], capture_output=True,
                             text=True, env=env, timeout=600)
    if started.returncode == CANNOT_RUN_HERE:
        pytest.skip(f"no SLURM test cluster: {started.stderr.strip()}")
    if started.returncode:
        pytest.fail(f"local_cluster.sh start failed:\n{started.stderr.strip()}", pytrace=False)

    def stop() -> None:
        subprocess.run(["bash", str(SCRIPT), "stop", str(state)], capture_output=True, timeout=120)

    keep = os.environ.get("LALM_SLURM_KEEP") == "1"
    if not keep:
        atexit.register(stop)  # also when the session dies before fixture teardown
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(state / "etc" / "slurm.conf")
    try:
        yield Cluster(state=state, slurm_conf=state / "etc" / "slurm.conf")
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        if not keep:
            stop()
            atexit.unregister(stop)
