"""A real SLURM cluster of two nodes for the tests of this directory, started once per session.

`local_cluster.sh` (next to this file) installs what it needs (apt), starts munge, MariaDB,
slurmdbd, slurmctld and one slurmd per node (lalm-n1, lalm-n2: both on this machine, 4 CPUs and
2 GRES GPUs each) under a private state dir and stops them by their pid files.
Where that is impossible (not root, no apt, not Linux) the tests skip and say why.

Opt-in: the README's `python -m pytest` never installs packages or starts daemons. The cluster
starts only when the run selects SLURM tests by marker (`-m slurm`, `-m "slurm and not slow"`)
or sets LALM_SLURM_TESTS=1; otherwise tests that need it skip, saying how to run them.
Set LALM_SLURM_KEEP=1 to leave the cluster running after the session (for debugging;
stop it with `local_cluster.sh stop <state dir>`).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm_testing import CANNOT_RUN_HERE, SCRIPT, Cluster

NODES = 2


def _free_port_base() -> int:
    """First base port from 6817 on with the ports the cluster uses free (no clash with a
    cluster another test session runs at the same time)."""
    for base in range(6817, 7817, 10):
        try:
            for port in range(base, base + 3 + NODES):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free ports for the SLURM test cluster between 6817 and 7817")


OPT_IN = "SLURM tests are opt-in (they start daemons as root): run them with `-m slurm` or LALM_SLURM_TESTS=1"


def slurm_selected(config: pytest.Config) -> bool:
    """Whether this run asked for SLURM tests: a marker expression naming `slurm` (not `not slurm`)."""
    if os.environ.get("LALM_SLURM_TESTS") == "1":
        return True
    expr = str(config.getoption("markexpr", default="") or "")
    return re.search(r"(?<!not )\bslurm\b", expr) is not None


@pytest.fixture(scope="session")
def slurm_cluster(pytestconfig: pytest.Config) -> Iterator[Cluster]:
    """Start the cluster (skip where impossible), point SLURM_CONF at it, stop it at the end."""
    if not slurm_selected(pytestconfig):
        pytest.skip(OPT_IN)
    # Not under pytest's tmp dir: that is private to root, and the munge and mysql users must
    # enter the state dir. Short, too: the munge socket lives in it (paths <= 107 bytes).
    state = Path(os.environ.get("LALM_SLURM_STATE") or tempfile.mkdtemp(prefix="lalm-slurm-"))
    env = {**os.environ, "LALM_SLURM_PORT_BASE": str(_free_port_base()), "LALM_SLURM_NODES": str(NODES)}
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", str(state)], capture_output=True, text=True, env=env, timeout=600
    )
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
            if "LALM_SLURM_STATE" not in os.environ:
                shutil.rmtree(state, ignore_errors=True)
