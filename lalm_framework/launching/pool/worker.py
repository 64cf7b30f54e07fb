"""The pool's job processes: a template process forks one fresh child per job.

`python -m lalm_framework.launching.pool.worker --template SHARED` starts once per launch: a new
interpreter that imports the light modules every job needs (Hydra, OmegaConf, cloudpickle),
loads the launch's shared payload (Hydra state, the task function and what its module imports)
and then forks a child for each job the launcher sends (one JSON line on stdin). The template
never runs a job, so it never initialises CUDA or starts compute threads, and every child starts
from the same pristine state: nothing a job does (module globals, CUDA contexts, threads)
reaches another job, and a job costs a fork (milliseconds) instead of a Python start-up plus
imports. Each child leads its own session/process group, so the launcher can stop a job
together with everything it started (DDP ranks, dataloader workers).

A `prepare` hook may do a job's first step in the template, before its fork (the pool composes
the job's config there: one full composition per config shape, `JobConfigs`); the child gets its
result as `job["prepared"]` in its own copy of memory, so no job sees what another one did.

Events go back on stdout, one JSON line each: {"started": key, "pid": N} and
{"exited": key, "code": N}.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import sys
import time
import traceback
from typing import Any, TextIO

from lalm_framework.launching.pool.signals import POLL_S, kill_group

# Exit code when the job's result could not be written back (the launcher reports it).
RESULT_WRITE_FAILED = 3
SYS_PATH_ENV = "LALM_POOL_SYS_PATH"
WARM_UP_ENV = "LALM_POOL_WARM_UP"
PREPARE_ENV = "LALM_POOL_PREPARE"  # "module:function" run in the template for each job, before its fork
PRELOAD_ENV = "LALM_POOL_PRELOAD"  # JSON list of modules to import before forking any job


def _preimport() -> None:
    # What every Hydra job unpickles anyway: paid once in the template, not per job.
    import cloudpickle  # noqa: F401
    import hydra.core.hydra_config
    import hydra.core.singleton
    import hydra.core.utils  # noqa: F401
    import omegaconf  # noqa: F401


def _preload(modules: list[str]) -> None:
    """Import the heavy modules every job needs once, here, instead of in each job after its fork.

    Otherwise jobs forked together each import them (torch: ~2 s of CPU, ~40k page faults) in
    the same seconds, and whatever slows one of them in that window delays its start: two
    CPU-bound jobs began computing up to 1.7 s apart (0.7 s on average; with preloading 0.3 s at
    most). Import only: nothing here may initialise CUDA or start threads, which a fork cannot
    carry.
    """
    for name in modules:
        try:
            __import__(name)
        except Exception as e:
            _exit_with(f"lalm_pool: hydra.launcher.preload: importing '{name}' failed ({type(e).__name__}: {e}).")
    if "torch._dynamo.utils" in sys.modules:
        # torch dumps its compile times at exit with `tabulate`, imported then: in every job's
        # exit (~35 ms of CPU a job) unless it is imported here, once
        try:
            __import__("tabulate")
        except ImportError:
            pass
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        _exit_with(
            f"lalm_pool: hydra.launcher.preload={modules} initialised CUDA in the template process, "
            "which forked jobs cannot use; drop the module that does it from the list."
        )


def _exit_with(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    os._exit(1)


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this process if its parent dies without cleaning up (SIGKILL)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM))
    except Exception:
        pass


def redirect_output(log_path: str) -> None:
    """Point fds 1 and 2 at the job's log, so the job's own children write there too."""
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    # line-buffered text streams over the new fds: a crash still leaves the last lines
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)


def _cap_torch_threads() -> None:
    # OMP_NUM_THREADS acts only at torch's first import; unpickling may have imported it already.
    torch = sys.modules.get("torch")
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if torch is not None and threads.isdigit():
        torch.set_num_threads(int(threads))


def _hook(spec: str) -> Any:
    """The function a "module:function" spec names (None for an empty spec)."""
    if not spec:
        return None
    module_name, func_name = spec.split(":")
    return getattr(__import__(module_name, fromlist=[func_name]), func_name)


def _load(path: str) -> Any:
    import cloudpickle

    with open(path, "rb") as f:
        return cloudpickle.load(f)


def _write_result(path: str, value: Any) -> None:
    import cloudpickle

    from lalm_framework.utils.files import atomic_write

    atomic_write(path, lambda f: cloudpickle.dump(value, f))  # the launcher never reads half a result


def run_message(msg: dict[str, Any], shared: Any) -> int:
    """Run the job one launcher message describes, in this process; returns the exit code.

    `msg["entry"]` ("module:function") is called with the shared payload and `msg["job"]`; it
    redirects its output to the job's log once it knows the job's directory.
    """
    os.environ.update(msg.get("env", {}))
    sys.path[:] = msg.get("sys_path", sys.path)
    sys.argv[:] = msg.get("argv", sys.argv)
    if msg.get("cwd"):
        os.chdir(msg["cwd"])
    _cap_torch_threads()
    module_name, func_name = msg["entry"].split(":")
    module = __import__(module_name, fromlist=[func_name])
    result = getattr(module, func_name)(shared, msg["job"])
    try:
        _write_result(msg["result"], result)
    except Exception:
        traceback.print_exc()
        return RESULT_WRITE_FAILED
    return 0


class Template:
    """The template loop: read job lines, fork a child per job, report starts and exits."""

    def __init__(self, shared_path: str, kill_grace_s: float) -> None:
        # stdout is the event channel; anything else this process prints goes to stderr
        self.events: TextIO = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)
        self.kill_grace_s = kill_grace_s
        self.children: dict[int, str] = {}
        self.stdin_fd = sys.stdin.fileno()
        self.buffer = b""
        # the launcher's import path: the shared payload may name classes from its test/user dirs
        sys.path[:] = json.loads(os.environ.pop(SYS_PATH_ENV, "null")) or sys.path
        _preimport()
        _preload(json.loads(os.environ.pop(PRELOAD_ENV, "[]")))
        self.shared = _load(shared_path)
        self._warm_up(os.environ.pop(WARM_UP_ENV, ""))
        try:
            self._prepare = _hook(os.environ.pop(PREPARE_ENV, ""))
        except Exception:  # without it each job does that step itself
            self._prepare = None
        # what the template holds is never collected in a job, so the job's GC does not copy its
        # pages (copy-on-write) and every job starts from the same shared memory
        gc.freeze()

    def _warm_up(self, hook: str) -> None:
        """Let the entry module fill caches once here, so that no forked job pays for them."""
        try:
            warm_up = _hook(hook)
            if warm_up is not None:
                warm_up(self.shared)
        except Exception:
            pass

    def _prepared(self, msg: dict[str, Any]) -> Any:
        """What the `prepare` hook makes of this job here (None: the job does that step itself)."""
        if self._prepare is None:
            return None
        try:
            if msg.get("cwd"):
                os.chdir(msg["cwd"])  # where the job will run: its child changes to it too
            return self._prepare(self.shared, msg["job"])
        except Exception:  # a failing hook costs the job nothing: it does the step itself
            return None

    def _emit(self, **event: Any) -> None:
        self.events.write(json.dumps(event) + "\n")

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the launcher decides; it forwards SIGTERM
        stdin_open = True
        while stdin_open or self.children:
            readable, _, _ = select.select([self.stdin_fd] if stdin_open else [], [], [], POLL_S)
            if readable:
                data = os.read(self.stdin_fd, 1 << 16)
                if not data:
                    stdin_open = False
                self.buffer += data
                while b"\n" in self.buffer:
                    line, self.buffer = self.buffer.split(b"\n", 1)
                    if line.strip():
                        self._fork(json.loads(line))
            self._reap()

    def _fork(self, msg: dict[str, Any]) -> None:
        msg["job"]["prepared"] = self._prepared(msg)
        pid = os.fork()
        if pid == 0:
            self._child(msg)
        self.children[pid] = msg["key"]
        self._emit(started=msg["key"], pid=pid)

    def _child(self, msg: dict[str, Any]) -> None:
        code = 1
        try:
            os.setsid()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os.close(self.stdin_fd)
            self.events.close()
            _die_with_parent()
            from lalm_framework.compat.private_api import skip_inherited_finalizers_at_exit

            skip_inherited_finalizers_at_exit()  # the template's teardown is not the job's
            code = run_message(msg, self.shared)
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                from lalm_framework.compat.private_api import run_exit_handlers

                run_exit_handlers()  # the job's libraries flush (loggers, writers)
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            key = self.children.pop(pid, None)
            if key is not None:
                self._emit(exited=key, pid=pid, code=os.waitstatus_to_exitcode(status))

    def _on_sigterm(self, _signum: int, _frame: Any) -> None:
        """Stop every job's process group (SIGTERM, then SIGKILL after the grace period), exit."""
        for pid in self.children:
            kill_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace_s
        while self.children and time.monotonic() < deadline:
            self._reap()
            time.sleep(POLL_S)
        for pid in list(self.children):
            kill_group(pid, signal.SIGKILL)
        os._exit(128 + signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    """Template entry; a DDP rank re-executing this module runs its job's saved config instead."""
    from lalm_framework.launching.ddp import maybe_run_ddp_child

    if maybe_run_ddp_child():
        return 0
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] != "--template":
        sys.stderr.write("usage: python -m lalm_framework.launching.pool.worker --template SHARED GRACE_S\n")
        return 2
    _die_with_parent()
    Template(argv[1], float(argv[2])).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
