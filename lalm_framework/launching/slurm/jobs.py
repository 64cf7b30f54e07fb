"""The SLURM jobs of a sweep, seen from the launcher process: submit, follow, collect, cancel.

- Submission goes through submitit (one `sbatch` per array or per job). When `sbatch` refuses,
  the files submitit prepared for it are removed: nothing was submitted, nothing stays behind.
- States come from slurmctld, for all jobs of the sweep in one `squeue -t all` call (it keeps
  ended jobs for MinJobAge, so the final state is known the moment a job ends); `sacct` only
  for jobs squeue no longer lists. A job's result is the pickle submitit's job writes.
- Every submitted job is appended to the sweep's ledger (`.submitit/lalm_slurm_jobs.jsonl`): a
  later controller (a rerun after a crash) finds the jobs an earlier one left in SLURM.

No torch, no submitit at import: the `lalm-train --help` path imports nothing of this.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from submitit.core.utils import FailedJobError, JobPaths, pickle_load

from lalm_framework.errors import UserError

log = logging.getLogger(__name__)

LEDGER = "lalm_slurm_jobs.jsonl"
# states after which a job will not run again (PREEMPTED only once it stays so: see `JobState`)
FINAL_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "BOOT_FAIL",
        "DEADLINE",
        "REVOKED",
        "SPECIAL_EXIT",
    }
)
# a requeued preempted job is PREEMPTED for a moment, then PENDING again; one preempted for good stays
PREEMPTED_FINAL_AFTER_S = 60.0
# squeue lists these by default: a job in none of them is no longer running or waiting in SLURM
ACTIVE_STATES = frozenset({"PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "REQUEUED", "RESIZING"})
SLURM_CLIENTS = ("sbatch", "srun", "squeue", "scancel")


class SlurmJobFailed(UserError):
    """A job of the sweep did not complete; the message names it, its SLURM state and its log."""


@dataclass
class JobState:
    """What slurmctld (or accounting) last said about a job (UNKNOWN: neither knows it)."""

    state: str = "UNKNOWN"
    reason: str = ""
    elapsed_s: float = 0.0
    preempted_since: float | None = None

    @property
    def final(self) -> bool:
        if self.state == "PREEMPTED":
            since = self.preempted_since
            return since is not None and time.monotonic() - since > PREEMPTED_FINAL_AFTER_S
        return self.state in FINAL_STATES

    def ended(self, has_result: bool) -> bool:
        """Final in SLURM, or gone from both squeue and sacct (no accounting) after writing its result."""
        return self.final or (self.state == "UNKNOWN" and has_result)


@dataclass
class TrackedJob:
    """One submitted SLURM job (or array task) of the sweep: job number, overrides, where its files are."""

    idx: int
    overrides: list[str]
    job_id: str
    folder: str  # submitit's folder pattern (with %j)
    tasks: int = 1
    status: JobState = field(default_factory=JobState)

    def paths(self, task: int = 0) -> Any:

        return JobPaths(self.folder, job_id=self.job_id, task_id=task)

    @property
    def log_path(self) -> Path:
        return Path(self.paths().stderr)

    def has_result(self) -> bool:
        """Every task has written its result (the job is about to end)."""
        return all(Path(self.paths(t).result_pickle).exists() for t in range(self.tasks))

    def to_ledger(self) -> dict[str, Any]:
        keys = ("idx", "overrides", "job_id", "folder", "tasks")
        return {k: getattr(self, k) for k in keys}

    @classmethod
    def from_ledger(cls, entry: Mapping[str, Any]) -> TrackedJob:
        return cls(
            idx=int(entry["idx"]),
            overrides=list(entry["overrides"]),
            job_id=str(entry["job_id"]),
            folder=str(entry["folder"]),
            tasks=int(entry.get("tasks", 1)),
        )


# -- the SLURM client -------------------------------------------------------------------------
def require_client(launcher_name: str) -> None:
    """Raise a short UserError when this machine has no SLURM client (before anything else)."""
    missing = [c for c in SLURM_CLIENTS if shutil.which(c) is None]
    if missing:
        raise UserError(
            f"hydra/launcher={launcher_name} submits the jobs to SLURM, but this machine has no SLURM "
            f"client ({', '.join(f'`{c}`' for c in missing)} not on PATH).\n"
            "Run the sweep on a login node of your SLURM cluster (e.g. after `module load slurm`), or "
            "run the jobs on this machine with hydra/launcher=lalm_pool (or hydra/launcher=joblib)."
        )


def run(cmd: Sequence[str]) -> str | None:
    """A SLURM client command's stdout, or None when it fails (callers poll again or do without)."""
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("%s: %s", " ".join(cmd), e)
        return None
    if out.returncode:
        log.debug("%s failed: %s", " ".join(cmd), out.stderr.strip())
        return None
    return out.stdout


def query(jobs: Iterable[TrackedJob]) -> None:
    """Update the state of every given job: one `squeue` call, `sacct` for those it no longer lists."""
    jobs = list(jobs)
    if not jobs:
        return
    by_id = {j.job_id: j for j in jobs}
    base_ids = sorted({j.job_id.split("_")[0] for j in jobs})
    seen = _squeue(base_ids)
    missing = [i for i in by_id if i not in seen]
    if missing:
        seen.update(_sacct(sorted({i.split("_")[0] for i in missing})))
    now = time.monotonic()
    for job_id, (state, reason, elapsed) in seen.items():
        job = by_id.get(job_id)
        if job is None:
            continue
        if state == "PREEMPTED":
            if job.status.state != "PREEMPTED":
                job.status.preempted_since = now
        else:
            job.status.preempted_since = None
        job.status.state, job.status.reason, job.status.elapsed_s = state, reason, elapsed


def _squeue(base_ids: Sequence[str]) -> dict[str, tuple[str, str, float]]:
    out = run(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(base_ids), "-o", "%i|%T|%r|%M"]) or ""
    rows = {}
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 4:
            rows[parts[0].strip()] = (parts[1].strip(), parts[2].strip(), _seconds(parts[3].strip()))
    return rows


def _sacct(base_ids: Sequence[str]) -> dict[str, tuple[str, str, float]]:
    out = run(["sacct", "-X", "-n", "-P", "-j", ",".join(base_ids), "-o", "JobID,State,ElapsedRaw"]) or ""
    rows = {}
    for line in out.splitlines():
        job_id, state, elapsed = (line.split("|") + ["", "", ""])[:3]
        if job_id and state:
            rows[job_id.strip()] = (state.split()[0], "", float(elapsed) if elapsed.strip().isdigit() else 0.0)
    return rows


def _seconds(text: str) -> float:
    """squeue's TimeUsed `[days-][hours:]minutes:seconds` in seconds."""
    days, _, clock = text.rpartition("-")
    try:
        parts = [int(p) for p in clock.split(":")]
        total = 0
        for p in parts:
            total = total * 60 + p
        return float(total + int(days or 0) * 86400)
    except ValueError:
        return 0.0


def active(job_ids: Iterable[str]) -> list[str]:
    """Those of the jobs that squeue still shows (pending, running, completing...)."""
    ids = list(job_ids)
    if not ids:
        return []
    out = run(["squeue", "-h", "-r", "-j", ",".join(sorted({i.split("_")[0] for i in ids})), "-o", "%i"]) or ""
    wanted = set(ids)
    listed = [line.strip() for line in out.splitlines() if line.strip()]
    return [i for i in listed if i in wanted or i.split("_")[0] in wanted]


def cancel(job_ids: Iterable[str], grace_s: float = 120.0) -> list[str]:
    """scancel the jobs and wait (up to `grace_s`) until squeue shows none of them; returns those left."""
    ids = sorted(set(job_ids))
    if not ids:
        return []
    run(["scancel", *ids])
    deadline = time.monotonic() + grace_s
    left = active(ids)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = active(ids)
    return left


# -- submission -------------------------------------------------------------------------------
def submit(
    executor: Any, fn: Any, items: Sequence[tuple[int, list[str]]], args: Sequence[tuple[Any, ...]], tasks: int
) -> list[TrackedJob]:
    """Submit `fn(*args[i])` for every item, as ONE array (several items) or one job; ledger them.

    A refusal by sbatch becomes FailedJobError for the caller, after the pickles and submission
    file submitit wrote for it are removed.
    """

    folder = JobPaths.get_first_id_independent_folder(executor.folder)
    before = _prepared_files(folder)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):  # submitit echoes sbatch's stderr; the caller words it once
            jobs = executor.map_array(fn, *zip(*args, strict=True))
    except (FailedJobError, OSError):
        for leftover in _prepared_files(folder) - before:
            leftover.unlink(missing_ok=True)
        raise
    tracked = [
        TrackedJob(idx=idx, overrides=list(overrides), job_id=str(job.job_id), folder=str(executor.folder), tasks=tasks)
        for (idx, overrides), job in zip(items, jobs, strict=True)
    ]
    append_ledger(folder, tracked)
    return tracked


def _prepared_files(folder: Path) -> set[Path]:
    """Pickles and submission files submitit leaves in the sweep's `.submitit` before sbatch runs."""
    if not folder.is_dir():
        return set()
    return set(folder.glob("*.pkl")) | set(folder.glob(".submission_file_*.sh"))


def append_ledger(folder: Path, jobs: Sequence[TrackedJob]) -> None:
    """Append submitted jobs to the ledger (one JSON line each, fsync'ed: a killed controller's
    successor must find every job that reached SLURM)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(j.to_ledger()) + "\n" for j in jobs)
    fd = os.open(folder / LEDGER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def ledger_folder(config: Any) -> Path:
    """Where the SLURM launcher of this (primary) config keeps its ledger: submitit's folder up to
    the first per-job part (`<sweep dir>/.submitit` by default)."""

    return Path(JobPaths.get_first_id_independent_folder(str(config.hydra.launcher.submitit_folder)))


def read_ledger(folder: Path) -> list[TrackedJob]:
    """Every job the sweep's controllers submitted, oldest first (a torn last line is skipped)."""
    path = folder / LEDGER
    if not path.is_file():
        return []
    jobs = []
    for line in path.read_text().splitlines():
        try:
            jobs.append(TrackedJob.from_ledger(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    return jobs


# -- results ----------------------------------------------------------------------------------
def job_return(job: TrackedJob, result_wait_s: float = 5.0) -> JobReturn:
    """The JobReturn of an ended job, honest about SLURM's state.

    The job's own JobReturn when it completed in SLURM; a FAILED one (SlurmJobFailed naming the
    state, the last error line and the log) when SLURM recorded anything else or no result came.
    A pruned Optuna trial ends COMPLETED in SLURM and keeps its TrialPruned for the sweeper.
    """

    state = job.status.state
    # no accounting and gone from squeue (UNKNOWN): what the job itself reported is all there is
    trusted = ("COMPLETED", "UNKNOWN")
    result_path = Path(job.paths(0).result_pickle)
    if state == "COMPLETED":  # the job wrote its result before it exited: give a slow filesystem a moment
        deadline = time.monotonic() + result_wait_s
        while not result_path.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    outcome: Any = None
    if result_path.exists():
        try:
            outcome = pickle_load(result_path)
        except Exception as e:  # a torn or foreign pickle is a failed job, not a crash of the sweep
            log.warning("cannot read %s: %s", result_path, e)
    if state in trusted and outcome is not None and outcome[0] == "success":
        ret = outcome[1]
        if isinstance(ret, JobReturn):
            return ret
    ret = JobReturn(overrides=list(job.overrides), status=JobStatus.FAILED)
    ret.status = JobStatus.FAILED
    ret.return_value = SlurmJobFailed(
        f"Job #{job.idx} ({' '.join(job.overrides) or 'no overrides'}) ended {state} in SLURM (job {job.job_id}).\n"
        f"{last_error_line(job.log_path)}Its log: {job.log_path}"
    )
    return ret


def is_trial_pruned(exc: object) -> bool:
    """An Optuna TrialPruned (the job was stopped by the pruner, which is not a failure)."""
    if not isinstance(exc, BaseException):
        return False
    # lazy: Optuna costs ~0.3 s, paid only once a job has ended with an exception
    from optuna.exceptions import TrialPruned

    return isinstance(exc, TrialPruned)


def last_error_line(log_path: Path) -> str:
    """The exception line at the end of a job's error log, if there is one (with a newline)."""
    try:
        lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    for line in reversed(lines):
        text = line.strip()
        head = text.split(":", 1)[0]
        if head and " " not in head and (head.endswith(("Error", "Exception", "Interrupt")) or "." in head):
            return f"{text}\n"
    return ""
