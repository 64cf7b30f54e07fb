"""Driving the test SLURM cluster from tests: its script, its client commands, the CLI in a sweep."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tests.helpers import cli_env

SCRIPT = Path(__file__).with_name("local_cluster.sh")
CANNOT_RUN_HERE = 3  # local_cluster.sh's exit code for "impossible on this machine"


@dataclass
class Cluster:
    """A running cluster: its state dir and the environment its clients need."""

    state: Path
    slurm_conf: Path

    def run(self, *cmd: str, check: bool = True) -> str:
        """Run a SLURM client command (sacct, squeue, scontrol...) against this cluster."""
        out = subprocess.run(
            list(cmd),
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "SLURM_CONF": str(self.slurm_conf)},
        )
        if check and out.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    def sacct_states(self, job_id: str) -> list[str]:
        """`sacct` states of a job (or of every task of an array), one per allocation."""
        out = self.run("sacct", "-X", "-n", "-P", "-j", str(job_id), "-o", "JobID,State")
        return [line.split("|")[1] for line in out.splitlines() if line.strip()]

    def jobs_submitted_since(self, since: datetime) -> list[str]:
        """Jobs submitted at or after `since` (a whole second from `next_second()`, local time).

        By submit time, not by "new ids": accounting shows a job cancelled while pending only a
        moment later, which would look like a job of the next test."""
        # slurmctld's own list too (it keeps ended jobs MinJobAge=600 s): accounting may lag
        lines = (
            self.run("sacct", "-X", "-n", "-a", "-P", "-S", "2000-01-01", "-o", "JobID,Submit").splitlines()
            + self.run("squeue", "-h", "-a", "-r", "-t", "all", "-o", "%i|%V").splitlines()
        )
        jobs = set()
        for line in lines:
            job_id, _, submit = line.partition("|")
            if submit.strip() and datetime.fromisoformat(submit.strip()) >= since:
                jobs.add(job_id)
        return sorted(jobs)


def next_second() -> datetime:
    """Wait for the next whole second and return it: SLURM's submit times have 1 s resolution,
    so jobs of an earlier test cannot share it."""
    now = datetime.now()
    time.sleep(1 - now.microsecond / 1e6)
    return now.replace(microsecond=0) + timedelta(seconds=1)


FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED")


def wait_final(cluster: Cluster, job_id: str, timeout_s: float = 60) -> str:
    """Wait until `sacct` shows a final state for a (non-array) job; return it."""
    states = final_states(cluster, job_id, 1, timeout_s)
    assert states and states[0] in FINAL, f"job {job_id} not final after {timeout_s} s: {states}"
    return states[0]


def final_states(cluster: Cluster, job_id: str, count: int, timeout_s: float = 60) -> list[str]:
    """`sacct` states of a job or array once `count` allocations show a final state.

    slurmdbd records an array's tasks a moment after the launcher saw them end (a record
    can be missing on a loaded machine), so read accounting only once it has caught up."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = [s.split()[0] for s in cluster.sacct_states(job_id)]
        if len(states) >= count and all(s in FINAL for s in states):
            return states
        if time.monotonic() > deadline:
            return states  # the caller's assert shows what accounting had
        time.sleep(0.5)


def sweep_env(cluster: Cluster) -> dict[str, str]:
    """Environment of a sweep's launcher process: this cluster, one thread per job, no hub."""
    return cli_env({"SLURM_CONF": str(cluster.slurm_conf)})


def run_sweep(
    args: Sequence[str], cwd: Path, cluster: Cluster, timeout: float = 600, app: Path | None = None
) -> subprocess.CompletedProcess:
    """Run `lalm-train ARGS` (or the Hydra script `app`) from `cwd` against the cluster."""
    entry = [str(app)] if app else ["-m", "lalm_framework.cli.train"]
    return subprocess.run(
        [sys.executable, *entry, *args],
        cwd=cwd,
        env=sweep_env(cluster),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_sweep(
    args: Sequence[str], cwd: Path, cluster: Cluster, log_path: Path, app: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `lalm-train ARGS` (or the Hydra script `app`) in the background, output to `log_path`."""
    entry = [str(app)] if app else ["-m", "lalm_framework.cli.train"]
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            [sys.executable, *entry, *args], cwd=cwd, env=sweep_env(cluster), stdout=log_file, stderr=subprocess.STDOUT
        )


def wait_until(
    what: str, check: Callable[[], object], timeout_s: float = 120, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll `check` until it is truthy; fail naming `what` (and stop waiting if `proc` ended)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        assert proc is None or proc.poll() is None, f"the sweep ended (rc {proc.returncode}) before {what}"
        time.sleep(0.2)


def array_id_of(text: str) -> str:
    """The array job id the lalm_slurm launcher logged ("lalm_slurm: array job N")."""
    match = re.search(r"lalm_slurm: array job (\d+)", text)
    assert match, f"no array job id in the output:\n{text[-3000:]}"
    return match.group(1)
