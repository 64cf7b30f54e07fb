"""The run record (`run.json`) of each job: what ran, where, with what, and how it ended.

Secrets never reach it (`lalm_framework.redaction`: credential-named environment variables and
keys, token-shaped strings). Every attempt (rerun, resume, requeue) is appended; an attempt that
was killed before it could close its entry (SIGKILL, out of memory, a lost node) is closed by the
next one as `killed`, with the last time it was seen alive (a heartbeat refreshes the record).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from lalm_framework.errors import UserError
from lalm_framework.masking import current, learn
from lalm_framework.redaction import Redactor

RECORD_NAME = "run.json"
# seconds between refreshes of a running attempt's `last_seen`
HEARTBEAT_S = 60.0
# the command line as the user typed it (JSON list), set by `lalm-train`; jobs in other processes inherit it
COMMAND_ENV = "LALM_COMMAND"
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


class AttemptEnded(Exception):
    """Raised by a job's component to end the attempt on purpose; `status` is what run.json records.

    E.g. the Optuna pruning callback raises a subclass with status "pruned". The runner classifies
    attempts by this type, whatever launched the job.
    """

    status = "ended"


def load_record(job_dir: Path) -> dict[str, Any] | None:
    """The run record in `job_dir`, or None when there is none; UserError when it is not readable."""
    path = job_dir / RECORD_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(
            f"The run record {path} is not valid JSON ({e}).\n"
            "Move it away (the job dir then counts as new), or choose another dir (hydra.run.dir=...)."
        ) from e
    if not isinstance(data, dict):
        raise UserError(f"The run record {path} holds no JSON object.\nMove it away, or choose another dir.")
    return data


def mask_files(paths: list[Path], redactor: Redactor) -> None:
    """Mask secrets inside text files in place (Hydra's .hydra/*.yaml, multirun.yaml); skip absent ones."""
    from lalm_framework.utils.files import atomic_write

    for path in paths:
        try:
            text = path.read_text()
        except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
            continue
        masked = redactor.yaml(text) if path.suffix in (".yaml", ".yml") else redactor.text(text)
        if masked != text:
            mode = path.stat().st_mode & 0o777
            atomic_write(path, masked)
            path.chmod(mode)  # as Hydra wrote it (the temp file was private)


def command_line() -> list[str]:
    """The command as typed: the CLI saves it in COMMAND_ENV before rewriting its arguments for Hydra."""
    saved = os.environ.get(COMMAND_ENV)
    argv = json.loads(saved) if saved else sys.argv
    return [str(argv[0]).rsplit("/", 1)[-1], *map(str, argv[1:])]


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
    """Accumulates one job's record; every attempt (resume, requeue) is appended, never replaced.

    Only one process may hold a RunRecord of a job dir at a time (the job dir's lock, `job_dir`):
    an attempt still marked running in the file is then one that died without closing it.
    """

    def __init__(
        self,
        job_dir: Path,
        launch_dir: Path,
        config: dict[str, Any],
        overrides: list[str],
        job_key: str | None = None,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.path = job_dir / RECORD_NAME
        learn(config, overrides)  # this process masks them everywhere from now on
        previous = load_record(job_dir) or {}
        attempts: list[dict[str, Any]] = previous.get("attempts", [])
        close_dead_attempts(attempts, _mtime(self.path))
        self.data: dict[str, Any] = {
            "command": command_line(),
            "launch_dir": str(launch_dir),
            "job_dir": str(job_dir),
            "job_key": job_key,
            "overrides": overrides,
            "config": config,
            "git": git_state(launch_dir),
            "versions": versions(),
            "host": socket.gethostname(),
            "slurm": {k: os.environ[k] for k in SLURM_VARS if k in os.environ} or None,
            "attempts": attempts,
            "metrics": previous.get("metrics", {}),
        }
        self.attempt: dict[str, Any] = {
            "started": _now(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "status": "running",
            "last_seen": _now(),
        }
        self.data["attempts"].append(self.attempt)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self.write()
        self._heartbeat = threading.Thread(target=self._beat, args=(heartbeat_s,), name="run-record", daemon=True)
        self._heartbeat.start()

    def update(self, **fields: Any) -> None:
        with self._lock:
            self.attempt.update(fields)
            self.write()

    def masked_config(self) -> dict[str, Any]:
        """The job's resolved config as plain data, secrets masked (what loggers may see)."""
        masked: dict[str, Any] = current().data(self.data["config"])
        return masked

    def finish(
        self,
        status: str,
        metrics: dict[str, float],
        error: BaseException | str | None = None,
        objective: float | None = None,
    ) -> None:
        """Close this attempt; `error` (the exception that ended it) is recorded as a short reason.

        A completed attempt also sets the job's metrics and `objective` (the value the job returned
        to its sweeper: a resumed sweep records the trial from it)."""
        self._stop.set()
        with self._lock:
            self.attempt.update(status=status, finished=_now(), last_seen=_now(), metrics=metrics)
            if error:
                self.attempt["error"] = error if isinstance(error, str) else failure_reason(error)
            if status == "completed":
                self.data["metrics"] = metrics
                self.data["objective"] = objective
            self.write()

    def write(self) -> None:
        from lalm_framework.utils.files import atomic_write

        with self._lock:  # the heartbeat thread writes too
            text = json.dumps(current().data(self.data), indent=2, default=str)
            atomic_write(self.path, text)

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.update(last_seen=_now())
            except OSError:  # a full disk must not end the job from this thread; the next beat retries
                continue


def failure_reason(error: BaseException) -> str:
    """Why an attempt failed, for the record: the user-facing reason (if any), then the exception."""
    import traceback

    from lalm_framework.errors import describe

    raised = "".join(traceback.format_exception_only(type(error), error)).strip()
    try:
        reason = describe(error)
    except Exception:  # the record must be written whatever describing the error does
        reason = None
    return f"{reason}\n({raised})" if reason and reason != str(error) else raised


def close_dead_attempts(attempts: list[dict[str, Any]], file_time: float | None) -> None:
    """Mark attempts still `running` as `killed` (their process is gone), with when they were last seen.

    `last_seen` is the later of the attempt's own heartbeat and the record file's last write.
    """
    for attempt in attempts:
        if attempt.get("status") != "running":
            continue
        seen = [t for t in (_parse(attempt.get("last_seen")), file_time) if t is not None]
        last_seen = _now(max(seen)) if seen else attempt.get("started")
        where = f"pid {attempt.get('pid', '?')} on {attempt.get('host', 'this host')}"
        attempt.update(
            status="killed",
            last_seen=last_seen,
            error=(
                f"Ended without closing its record ({where}): killed (SIGKILL, out of memory) or its"
                f" machine stopped. Last seen alive at {last_seen}."
            ),
        )


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _parse(stamp: Any) -> float | None:
    try:
        return datetime.strptime(str(stamp), TIME_FORMAT).timestamp()
    except (TypeError, ValueError, OverflowError):
        return None


TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def _now(at: float | None = None) -> str:
    return time.strftime(TIME_FORMAT, time.localtime(at))


class RankRecord:
    """The record of a non-zero rank: the job's record is rank 0's, so this writes nothing."""

    def update(self, **fields: Any) -> None:
        pass

    def finish(
        self,
        status: str,
        metrics: dict[str, float],
        error: BaseException | str | None = None,
        objective: float | None = None,
    ) -> None:
        pass
