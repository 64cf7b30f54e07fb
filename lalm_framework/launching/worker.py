"""Bootstrap of one pool worker: a fresh process that runs exactly ONE job, then exits.

The pool starts it (`python -m lalm_framework.launching.worker`) before a job is ready, so
Python start-up and the light imports below overlap with the jobs already running. It then
reads one JSON line from stdin naming the job, redirects its stdout/stderr to the job's log,
runs the job and writes the pickled result. Nothing heavy is imported here: torch and CUDA
are first touched by the job itself, after its thread caps and CUDA_VISIBLE_DEVICES are set.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, Dict

# Exit code when the job's result could not be written back (the launcher reports it).
RESULT_WRITE_FAILED = 3


def _preimport() -> None:
    # While this spare waits, pay for what every Hydra job unpickles anyway.
    import cloudpickle  # noqa: F401
    import hydra.core.hydra_config  # noqa: F401
    import hydra.core.singleton  # noqa: F401
    import hydra.core.utils  # noqa: F401
    import omegaconf  # noqa: F401


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker if the launcher dies without cleaning up (SIGKILL)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM))
    except Exception:  # noqa: BLE001 - best effort: not Linux / no libc
        pass


def _redirect_output(log_path: str) -> None:
    """Point fds 1 and 2 at the job's log, so the job's own children write there too."""
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    # line-buffered text streams over the new fds: a crash still leaves the last lines
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


def _cap_torch_threads(env: Dict[str, str]) -> None:
    # OMP_NUM_THREADS only acts at torch's first import; unpickling may have imported it already.
    torch = sys.modules.get("torch")
    threads = env.get("OMP_NUM_THREADS")
    if torch is not None and threads and threads.isdigit():
        torch.set_num_threads(int(threads))


def _write_result(path: str, value: Any) -> None:
    import cloudpickle

    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        cloudpickle.dump(value, f)
    os.replace(tmp, path)  # the launcher never reads a half-written result


def run_message(msg: Dict[str, Any]) -> int:
    """Run the job described by one launcher message; returns the process exit code."""
    import cloudpickle

    env = msg.get("env", {})
    os.environ.update(env)
    _redirect_output(msg["log"])
    sys.path[:] = msg.get("sys_path", sys.path)
    sys.argv[:] = msg.get("argv", sys.argv)
    if msg.get("cwd"):
        os.chdir(msg["cwd"])
    with open(msg["shared"], "rb") as f:
        shared = cloudpickle.load(f)
    with open(msg["job"], "rb") as f:
        job = cloudpickle.load(f)
    _cap_torch_threads(env)
    module_name, func_name = msg["entry"].split(":")
    module = __import__(module_name, fromlist=[func_name])
    result = getattr(module, func_name)(shared, job)
    _cap_torch_threads(env)
    try:
        _write_result(msg["result"], result)
    except Exception:  # noqa: BLE001 - an unpicklable result must not look like success
        traceback.print_exc()
        return RESULT_WRITE_FAILED
    return 0


def main() -> int:
    """Worker entry: a DDP rank re-executing this module runs its job's config; else one job."""
    from lalm_framework.launching.ddp import maybe_run_ddp_child

    if maybe_run_ddp_child():
        return 0
    _die_with_parent()
    _preimport()
    line = sys.stdin.readline()
    if not line.strip():  # the launcher closed our stdin: not needed any more
        return 0
    return run_message(json.loads(line))


if __name__ == "__main__":
    sys.exit(main())
