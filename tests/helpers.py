"""Shared test helpers: run the CLI as a user would, in a clean working directory."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)
    env.update({"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"})
    env.update(extra or {})
    return env


def run_cli(
    cmd: str,
    args: Sequence[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    check: bool = False,
) -> subprocess.CompletedProcess:
    """Run an installed console script (lalm-train, lalm-doctor, ...) from `cwd`."""
    proc = subprocess.run(
        [str(VENV_BIN / cmd), *args], cwd=cwd, env=cli_env(env), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{cmd} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def start_cli(cmd: str, args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a console script in its own process group (to kill it whole), output discarded."""
    return subprocess.Popen(
        [str(VENV_BIN / cmd), *args],
        cwd=cwd,
        env=cli_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@contextlib.contextmanager
def read_only_place(tmp: Path) -> Iterator[Path]:
    """A directory no one may write: a read-only tmpfs as root (root ignores modes), else mode 555."""
    import pytest

    ro = tmp / "ro"
    ro.mkdir()
    if os.geteuid() != 0:
        ro.chmod(0o555)
        try:
            yield ro
        finally:
            ro.chmod(0o755)
        return
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs as root here: {mount.stderr.decode().strip()}")
    try:
        yield ro
    finally:
        subprocess.run(["umount", str(ro)], check=True)
