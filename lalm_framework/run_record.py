"""The run record (`run.json`) of each job: what ran, where, with what, and how it ended.

Secrets never reach it: values of environment variables that look like credentials are masked
wherever they appear (command line, config, overrides).
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH)", re.IGNORECASE)
MASK = "***"
PACKAGES = (
    "lalm-framework",
    "torch",
    "pytorch-lightning",
    "hydra-core",
    "omegaconf",
    "transformers",
    "peft",
    "optuna",
    "submitit",
    "bitsandbytes",
    "numpy",
)
SLURM_VARS = (
    "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_JOB_NAME",
    "SLURM_RESTART_COUNT",
    "SLURM_JOB_PARTITION",
    "SLURM_NODELIST",
    "SLURM_PROCID",
)


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look like credentials (long enough to matter)."""
    env = os.environ if environ is None else environ
    return sorted({v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= 6}, key=len, reverse=True)


def mask_secrets(obj: Any, secrets: Iterable[str]) -> Any:
    """`obj` with every secret value replaced by ***, and values of secret-named keys masked."""
    secrets = list(secrets)
    if isinstance(obj, dict):
        return {
            k: (
                MASK
                if isinstance(k, str) and SECRET_NAME.search(k) and v not in (None, "")
                else mask_secrets(v, secrets)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [mask_secrets(v, secrets) for v in obj]
    if isinstance(obj, str):
        for s in secrets:
            obj = obj.replace(s, MASK)
    return obj


def mask_file(path: Path, secrets: Iterable[str]) -> None:
    """Mask secret values inside a text file in place (Hydra's .hydra/*.yaml)."""
    text = path.read_text()
    masked = mask_secrets(text, secrets)
    if masked != text:
        path.write_text(masked)


def git_state(start: Path) -> dict[str, Any] | None:
    """Commit and dirty flag of the git repository containing `start` (the user's project)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(start), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return {
            "root": git("rev-parse", "--show-toplevel"),
            "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


class RunRecord:
    """Accumulates one job's record; every attempt (resume, requeue) is appended, never replaced."""

    def __init__(self, job_dir: Path, launch_dir: Path, config: dict[str, Any], overrides: list[str]) -> None:
        self.path = job_dir / "run.json"
        self.secrets = secret_values()
        previous = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.data: dict[str, Any] = {
            "command": [sys.argv[0].rsplit("/", 1)[-1], *sys.argv[1:]],
            "launch_dir": str(launch_dir),
            "job_dir": str(job_dir),
            "overrides": overrides,
            "config": config,
            "git": git_state(launch_dir),
            "versions": versions(),
            "host": socket.gethostname(),
            "slurm": {k: os.environ[k] for k in SLURM_VARS if k in os.environ} or None,
            "attempts": previous.get("attempts", []),
            "metrics": previous.get("metrics", {}),
        }
        self.attempt: dict[str, Any] = {"started": _now(), "pid": os.getpid(), "status": "running"}
        self.data["attempts"].append(self.attempt)
        self.write()

    def update(self, **fields: Any) -> None:
        self.attempt.update(fields)
        self.write()

    def finish(
        self, status: str, metrics: dict[str, float], error: str | None = None, objective: float | None = None
    ) -> None:
        """Close this attempt; a completed one also sets the job's metrics and `objective` (the
        value the job returned to its sweeper)."""
        self.attempt.update(status=status, finished=_now(), metrics=metrics)
        if error:
            self.attempt["error"] = error
        if status == "completed":
            self.data["metrics"] = metrics
            self.data["objective"] = objective
        self.write()

    def write(self) -> None:
        from lalm_framework.utils.files import atomic_write

        atomic_write(self.path, json.dumps(mask_secrets(self.data, self.secrets), indent=2, default=str))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class RankRecord:
    """The record of a non-zero rank: the job's record is rank 0's, so this writes nothing."""

    def update(self, **fields: Any) -> None:
        pass

    def finish(
        self, status: str, metrics: dict[str, float], error: str | None = None, objective: float | None = None
    ) -> None:
        pass
