"""A real PostgreSQL server on loopback for the storage tests and benchmarks: started, used, stopped.

Debian's `postgresql` package provides the binaries (`.ci/run` installs it); where they are missing
the tests skip, saying so. The server runs from a private data dir under a temp dir, listens on
127.0.0.1 only (a free port) with `trust` authentication for the local user, and is stopped by
`pg_ctl stop` at the end. PostgreSQL refuses to run as root: as root the data dir belongs to the
`postgres` user and the commands run as that user (`runuser`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

DATABASE = "optuna"
START_TIMEOUT_S = 30


def pg_bindir() -> Path | None:
    """The directory of `initdb`/`pg_ctl` (Debian keeps them out of PATH), or None when not installed."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def cannot_run_here() -> str | None:
    """Why no server can be started here, or None."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 is not installed (pip install 'lalm-framework[postgres]')"
    if pg_bindir() is None:
        return "PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a `postgres` user to run the server as"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a fresh server; yield the SQLAlchemy URL of its database `optuna`; stop it."""
    bindir = pg_bindir()
    assert bindir is not None, cannot_run_here()
    root = Path(tempfile.mkdtemp(prefix="lalm-pg-"))
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
    port = _free_port()
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER") or "postgres"
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    subprocess.run(
        _as_server_user([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "--no-sync"]), **run
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_server_user(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "start",
            ]
        ),
        **run,
    )
    try:
        subprocess.run(
            _as_server_user([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, DATABASE]),
            **run,
        )
        yield f"postgresql+psycopg2://{user}@127.0.0.1:{port}/{DATABASE}"
    finally:
        subprocess.run(
            _as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        for _ in range(50):  # the server's last files close a moment after pg_ctl returns
            if not (data / "postmaster.pid").exists():
                break
            time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
