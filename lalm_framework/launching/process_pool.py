"""A pool that runs every job in its own fresh process, starting the next job as soon as one ends.

Workers are pre-spawned (`lalm_framework.launching.worker`) while jobs run, so a job pays
neither Python start-up nor the light imports; each worker runs one job and exits, so no state
or CUDA context passes from one job to the next. Each worker leads its own process group: a
job's children (DDP ranks, dataloader workers) are stopped with it.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Sequence

from lalm_framework.launching.gpu_leases import GpuLeases

log = logging.getLogger(__name__)

POLL_S = 0.005


@dataclass
class PoolJob:
    """One job for the pool: its pickled payload, and where its log and result go."""

    idx: int
    overrides: Sequence[str]
    job_dir: str
    log_path: str
    payload_path: str
    attempt: int = 0
    gpus: List[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    pid: Optional[int] = None


@dataclass
class Outcome:
    """What came back from a job's process: its result, or why there is none."""

    result: Any = None
    exit_code: Optional[int] = None
    error: Optional[str] = None

    @property
    def crashed(self) -> bool:
        return self.error is not None


class PoolInterrupted(BaseException):
    """SIGINT/SIGTERM reached the launcher; every child has been stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


JobSupplier = Callable[[], Optional[PoolJob]]
DoneCallback = Callable[[PoolJob, Outcome], None]
FailedPredicate = Callable[[Outcome], bool]


class ProcessPool:
    """Runs `PoolJob`s in fresh worker processes, `n_workers` at a time, with GPU leases."""

    def __init__(self, n_workers: int, leases: GpuLeases, entry: str, shared_path: str,
                 work_dir: str, base_env: Dict[str, str], max_retries: int = 0,
                 kill_grace_s: float = 10.0, on_change: Optional[Callable[["ProcessPool"], None]] = None) -> None:
        self.n_workers = max(1, n_workers)
        self.leases = leases
        self.entry = entry
        self.shared_path = shared_path
        self.work_dir = Path(work_dir)
        self.base_env = base_env
        self.max_retries = max_retries
        self.kill_grace_s = kill_grace_s
        self.on_change = on_change
        self.running: Dict[int, "tuple[PoolJob, subprocess.Popen[bytes]]"] = {}
        self.retry_queue: Deque[PoolJob] = collections.deque()
        self.done = 0
        self.failed = 0
        self._spares: Deque[subprocess.Popen[bytes]] = collections.deque()

    # -- workers ------------------------------------------------------------------------------
    def _spawn(self) -> "subprocess.Popen[bytes]":
        env = dict(os.environ)
        env.update(self.base_env)
        return subprocess.Popen([sys.executable, "-m", "lalm_framework.launching.worker"],
                                stdin=subprocess.PIPE, env=env, start_new_session=True)

    def _top_up_spares(self, wanted: int) -> None:
        while len(self._spares) < wanted:
            self._spares.append(self._spawn())

    def _take_spare(self) -> "subprocess.Popen[bytes]":
        while self._spares:
            proc = self._spares.popleft()
            if proc.poll() is None:
                return proc
        return self._spawn()

    def _start(self, job: PoolJob, lease: List[str]) -> None:
        job.gpus = lease
        job.attempt += 1
        job.started = time.monotonic()
        proc = self._take_spare()
        env = dict(self.leases.env(lease))
        env["LALM_POOL_JOB_IDX"] = str(job.idx)
        msg = {"entry": self.entry, "shared": self.shared_path, "job": job.payload_path,
               "result": self._result_path(job), "log": job.log_path, "env": env,
               "sys_path": sys.path, "argv": sys.argv, "cwd": os.getcwd()}
        assert proc.stdin is not None
        try:
            proc.stdin.write((json.dumps(msg) + "\n").encode())
            proc.stdin.close()
        except BrokenPipeError:  # the spare died while waiting: use a new one
            self._kill_group(proc, signal.SIGKILL)
            job.attempt -= 1
            self._spares.clear()
            return self._start(job, lease)
        job.pid = proc.pid
        self.running[proc.pid] = (job, proc)

    def _result_path(self, job: PoolJob) -> str:
        return str(self.work_dir / f"result-{job.idx}-{job.attempt}.pkl")

    def _collect(self, job: PoolJob, proc: "subprocess.Popen[bytes]") -> Outcome:
        # the job is over: whatever it left in its process group goes too (no orphans)
        self._kill_group(proc, signal.SIGKILL)
        path = Path(self._result_path(job))
        code = proc.returncode
        if not path.is_file():
            why = (f"killed by signal {signal.Signals(-code).name}" if code is not None and code < 0
                   else f"exited with code {code}")
            return Outcome(exit_code=code, error=f"job process {why} before returning a result; "
                                                 f"see {job.log_path}")
        import cloudpickle

        with open(path, "rb") as f:
            try:
                result = cloudpickle.load(f)
            except Exception as e:  # noqa: BLE001 - e.g. a class the launcher cannot import
                return Outcome(exit_code=code, error=f"cannot read the job's result ({type(e).__name__}: "
                                                     f"{e}); see {job.log_path}")
        path.unlink()
        return Outcome(result=result, exit_code=code)

    # -- scheduling ---------------------------------------------------------------------------
    def run(self, next_job: JobSupplier, on_done: DoneCallback, is_failed: FailedPredicate,
            max_in_flight: Optional[int] = None, jobs_left: Optional[Callable[[], int]] = None) -> None:
        """Run jobs from `next_job` until it returns None with nothing running or to retry.

        `next_job` is asked again after each job ends. `jobs_left` (if known) avoids
        pre-spawning workers that no job will use.
        """
        slots = self.n_workers if max_in_flight is None else max(1, min(self.n_workers, max_in_flight))
        if self.leases.capacity is not None:
            slots = min(slots, self.leases.capacity)
        exhausted = False
        with self._signals_stop_children():
            try:
                while True:
                    started = False
                    while len(self.running) < slots:
                        job = self.retry_queue.popleft() if self.retry_queue else None
                        if job is None and not exhausted:
                            job = next_job()
                            exhausted = job is None
                        if job is None:
                            break
                        lease = self.leases.acquire()
                        if lease is None:  # not with uniform jobs; kept for mixed leases later
                            self.retry_queue.appendleft(job)
                            break
                        self._start(job, lease)
                        started = True
                    if started:
                        self._changed()
                    if not self.running:
                        break  # the source has nothing more while nothing runs: the sweep is over
                    left = slots if jobs_left is None else jobs_left()
                    self._top_up_spares(min(slots, left + len(self.retry_queue)))
                    if self._reap(on_done, is_failed):
                        exhausted = False  # a streaming source may hand out more once results come in
                        self._changed()
                    else:
                        time.sleep(POLL_S)
            except BaseException as e:  # a signal, or an error in a callback: no job may outlive us
                if isinstance(e, PoolInterrupted) and threading.current_thread() is threading.main_thread():
                    for s in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the cleanup
                        signal.signal(s, signal.SIG_IGN)
                self.stop_all()
                raise
            finally:
                self._close_spares()

    def _reap(self, on_done: DoneCallback, is_failed: FailedPredicate) -> bool:
        any_done = False
        for pid, (job, proc) in list(self.running.items()):
            if proc.poll() is None:
                continue
            any_done = True
            del self.running[pid]
            job.ended = time.monotonic()
            self.leases.release(job.gpus)
            outcome = self._collect(job, proc)
            if is_failed(outcome) and job.attempt <= self.max_retries:
                log.warning("job #%d failed (attempt %d of %d), retrying in a fresh process; log: %s",
                            job.idx, job.attempt, self.max_retries + 1, job.log_path)
                self.retry_queue.append(job)
                continue
            if is_failed(outcome):
                self.failed += 1
            else:
                self.done += 1
            on_done(job, outcome)
        return any_done

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    # -- stopping -----------------------------------------------------------------------------
    @staticmethod
    def _kill_group(proc: "subprocess.Popen[bytes]", sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop_all(self) -> None:
        """SIGTERM every job's process group, SIGKILL what is left after the grace period."""
        procs = [p for _, p in self.running.values()] + list(self._spares)
        for proc in procs:
            self._kill_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace_s
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in procs:  # the group may outlive its leader: always make sure
            self._kill_group(proc, signal.SIGKILL)
            proc.wait()
        self.running.clear()
        self._spares.clear()

    def _close_spares(self) -> None:
        for proc in self._spares:
            try:
                assert proc.stdin is not None
                proc.stdin.close()  # EOF: the spare exits without running anything
            except OSError:
                pass
        for proc in self._spares:
            try:
                proc.wait(timeout=self.kill_grace_s)
            except subprocess.TimeoutExpired:
                self._kill_group(proc, signal.SIGKILL)
                proc.wait()
        self._spares.clear()

    @staticmethod
    def _raise_interrupted(signum: int, _frame: Any) -> None:
        raise PoolInterrupted(signum)

    @classmethod
    def _signals_stop_children(cls) -> "Iterator[None]":
        import contextlib

        @contextlib.contextmanager
        def handlers() -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            old = {s: signal.signal(s, cls._raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, h in old.items():
                    signal.signal(s, h)

        return handlers()
