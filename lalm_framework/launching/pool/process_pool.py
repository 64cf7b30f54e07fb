"""A pool that runs every job in its own fresh process, starting the next job as soon as one ends.

The processes come from a template (`lalm_framework.launching.pool.worker`): a clean interpreter
started once per launch that forks one child per job, so a job pays a fork instead of Python
start-up and imports, and no state or CUDA context passes from one job to the next. Each job
leads its own process group: its children (DDP ranks, dataloader workers) are stopped with it.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle

from lalm_framework.launching.pool.gpu_leases import GpuLeases
from lalm_framework.launching.pool.signals import POLL_S, kill_group, pid_alive
from lalm_framework.launching.pool.worker import SYS_PATH_ENV

log = logging.getLogger(__name__)


@dataclass
class PoolJob:
    """One job for the pool: its pickled payload, and where its log and result go."""

    idx: int
    overrides: Sequence[str]
    payload: dict[str, Any]  # JSON-able; what the entry function gets as `job`
    where_path: str  # the job writes its log path here once it has composed its config
    attempt: int = 0
    gpus: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    pid: int | None = None

    @property
    def key(self) -> str:
        return f"{self.idx}.{self.attempt}"

    @property
    def log_path(self) -> str:
        """The job's log file, once the job has said where it is (its dir depends on its config)."""
        try:
            return Path(self.where_path).read_text().strip()
        except OSError:
            return "(no log: the job ended before choosing its directory; see the launcher's output)"


@dataclass
class ProcessResult:
    """What came back from a job's process: the entry function's return value, or why there is none."""

    value: Any = None
    exit_code: int | None = None
    error: str | None = None

    @property
    def crashed(self) -> bool:
        return self.error is not None


class PoolInterrupted(BaseException):
    """SIGINT/SIGTERM reached the launcher; every child has been stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


JobSupplier = Callable[[], PoolJob | None]
DoneCallback = Callable[[PoolJob, ProcessResult], None]
FailedPredicate = Callable[[ProcessResult], bool]


class _TemplateProcess:
    """The launcher's handle on the template: send job lines, read start/exit events."""

    def __init__(self, shared_path: str, env: dict[str, str], kill_grace_s: float) -> None:
        full_env = dict(os.environ)
        full_env.update(env)
        full_env[SYS_PATH_ENV] = json.dumps(sys.path)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lalm_framework.launching.pool.worker",
                "--template",
                shared_path,
                str(kill_grace_s),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=full_env,
            start_new_session=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.out_fd = self.proc.stdout.fileno()
        self.buffer = b""

    def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise RuntimeError(self.died_message()) from None

    def events(self, timeout: float) -> list[dict[str, Any]]:
        """Events that arrived within `timeout` seconds (none on timeout)."""
        readable, _, _ = select.select([self.out_fd], [], [], timeout)
        if not readable:
            return []
        data = os.read(self.out_fd, 1 << 16)
        if not data:
            raise RuntimeError(self.died_message())
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def died_message(self) -> str:
        code = self.proc.poll()
        return (
            f"lalm_pool's job template process ended unexpectedly (exit code {code}); its "
            "error is printed above. Check that `python -m lalm_framework.launching.pool.worker` "
            "imports in this environment."
        )

    def close(self, grace_s: float) -> None:
        """EOF on stdin: the template waits for its children (none left by now) and exits."""
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self.proc.wait()

    def kill(self, sig: int) -> None:
        kill_group(self.proc.pid, sig)


class ProcessPool:
    """Runs `PoolJob`s in fresh processes, `n_workers` at a time, with GPU leases and retries."""

    def __init__(
        self,
        n_workers: int,
        leases: GpuLeases,
        entry: str,
        shared_path: str,
        work_dir: str,
        base_env: dict[str, str],
        max_retries: int,
        kill_grace_s: float,
        on_change: Callable[[ProcessPool], None] | None = None,
    ) -> None:
        self.n_workers = max(1, n_workers)
        self.leases = leases
        self.entry = entry
        self.shared_path = shared_path
        self.work_dir = Path(work_dir)
        self.base_env = base_env
        self.max_retries = max_retries
        self.kill_grace_s = kill_grace_s
        self.on_change = on_change
        self.running: dict[str, PoolJob] = {}  # by key; pid known once the template says so
        self.retry_queue: collections.deque[PoolJob] = collections.deque()
        self.done = 0
        self.failed = 0
        self._template: _TemplateProcess | None = None

    def _start(self, job: PoolJob, lease: list[str]) -> None:
        assert self._template is not None
        job.gpus = lease
        job.attempt += 1
        job.started = time.monotonic()
        job.pid = None
        env = dict(self.leases.env(lease))
        env["LALM_POOL_JOB_IDX"] = str(job.idx)
        self._template.send(
            {
                "key": job.key,
                "entry": self.entry,
                "job": job.payload,
                "result": self._result_path(job),
                "env": env,
                "sys_path": sys.path,
                "argv": sys.argv,
                "cwd": os.getcwd(),
            }
        )
        self.running[job.key] = job

    def _result_path(self, job: PoolJob) -> str:
        return str(self.work_dir / f"result-{job.key}.pkl")

    def _collect(self, job: PoolJob, code: int | None) -> ProcessResult:
        path = Path(self._result_path(job))
        if not path.is_file():
            why = (
                f"killed by signal {signal.Signals(-code).name}"
                if code is not None and code < 0
                else f"exited with code {code}"
            )
            return ProcessResult(
                exit_code=code, error=f"job process {why} before returning a result; see {job.log_path}"
            )
        try:
            with open(path, "rb") as f:
                value = cloudpickle.load(f)
        except Exception as e:
            return ProcessResult(
                exit_code=code, error=f"cannot read the job's result ({type(e).__name__}: {e}); see {job.log_path}"
            )
        path.unlink()
        return ProcessResult(value=value, exit_code=code)

    # -- scheduling ---------------------------------------------------------------------------
    def run(
        self, next_job: JobSupplier, on_done: DoneCallback, is_failed: FailedPredicate, max_in_flight: int | None = None
    ) -> None:
        """Run jobs from `next_job` until it returns None with nothing running or to retry.

        `next_job` is asked again after each job ends, so a streaming source may answer None
        while jobs run and hand out more once results are in.
        """
        slots = self.n_workers if max_in_flight is None else max(1, min(self.n_workers, max_in_flight))
        if self.leases.capacity is not None:
            slots = min(slots, self.leases.capacity)
        exhausted = False
        with self._signals_stop_children():
            try:
                self._template = _TemplateProcess(self.shared_path, self.base_env, self.kill_grace_s)
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
                    if self._handle_events(on_done, is_failed):
                        exhausted = False
                        self._changed()
            except BaseException as e:  # a signal, or an error in a callback: no job may outlive us
                if isinstance(e, PoolInterrupted) and threading.current_thread() is threading.main_thread():
                    for s in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the cleanup
                        signal.signal(s, signal.SIG_IGN)
                self.stop_all()
                raise
            if self._template is not None:
                self._template.close(self.kill_grace_s)

    def _handle_events(self, on_done: DoneCallback, is_failed: FailedPredicate) -> bool:
        assert self._template is not None
        any_done = False
        for event in self._template.events(timeout=POLL_S * 20):
            job = self.running.get(str(event.get("started") or event.get("exited")))
            if job is None:
                continue
            if "started" in event:
                job.pid = event["pid"]
                continue
            any_done = True
            del self.running[job.key]
            job.ended = time.monotonic()
            kill_group(event["pid"], signal.SIGKILL)  # whatever the job left in its group goes too
            self.leases.release(job.gpus)
            result = self._collect(job, event["code"])
            if is_failed(result) and job.attempt <= self.max_retries:
                log.warning(
                    "job #%d failed (attempt %d of %d), retrying in a fresh process; log: %s",
                    job.idx,
                    job.attempt,
                    self.max_retries + 1,
                    job.log_path,
                )
                self.retry_queue.append(job)
                continue
            if is_failed(result):
                self.failed += 1
            else:
                self.done += 1
            on_done(job, result)
        return any_done

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    # -- stopping -----------------------------------------------------------------------------
    def stop_all(self) -> None:
        """SIGTERM every job's process group, SIGKILL what is left after the grace period."""
        template = self._template
        pids = [j.pid for j in self.running.values() if j.pid is not None]
        if template is not None:
            with contextlib.suppress(Exception):  # learn the pids of jobs started a moment ago
                for event in template.events(timeout=0):
                    job = self.running.get(str(event.get("started")))
                    if job is not None:
                        pids.append(event["pid"])
            template.kill(signal.SIGTERM)  # it forwards SIGTERM to every job it forked
        for pid in pids:
            kill_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace_s + 1.0
        while time.monotonic() < deadline and (
            any(pid_alive(p) for p in pids) or (template is not None and template.proc.poll() is None)
        ):
            time.sleep(POLL_S * 4)
        for pid in pids:  # the group may outlive its leader: always make sure
            kill_group(pid, signal.SIGKILL)
        if template is not None:
            template.kill(signal.SIGKILL)
            template.proc.wait()
        self.running.clear()

    @staticmethod
    def _raise_interrupted(signum: int, _frame: Any) -> None:
        raise PoolInterrupted(signum)

    @classmethod
    @contextlib.contextmanager
    def _signals_stop_children(cls) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {s: signal.signal(s, cls._raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)
