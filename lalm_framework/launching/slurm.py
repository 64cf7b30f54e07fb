"""SLURM through hydra-submitit: validated submission, honest job states, a summary, requeue hooks.

The `lalm_slurm` launcher (hydra_plugins/lalm_submitit) delegates here:

- `launch` (launcher process): compose + validate every job and check its SLURM request, submit
  ONE job array, stop with a clear error when sbatch refuses it or SLURM would keep it pending
  forever, wait, read the final states from `sacct`, print the summary table, return JobReturns
  (failed jobs carry a short `SlurmJobFailed`; the sweeper then exits != 0).
- `raise_if_failed` (inside the job): hydra-submitit hands a task's exception back inside a
  JobReturn, so SLURM would record COMPLETED (Hydra issue #1928); we re-raise it: FAILED.
- `requeue_nodes_in_job` (inside the job): puts the preemption mechanism into the job's config
  (a `callbacks.slurm_requeue` node and a SLURMEnvironment(auto_requeue=False) entry in
  `trainer.plugins`) for the runner to build; `save_for_requeue`: see `slurm_requeue`
  (imported lazily: it imports Lightning).

Nothing heavy at module top: the launcher process never needs torch.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import DictConfig, OmegaConf, open_dict

from lalm_framework.compat.private_api import job_return_value
from lalm_framework.errors import UserError
from lalm_framework.launching.slurm_resources import check_slurm_resources, never_starts

if TYPE_CHECKING:
    from hydra_plugins.lalm_submitit.lalm_submitit_launcher import LalmSlurmLauncher

log = logging.getLogger(__name__)

# options of LalmSlurmQueueConf that are ours, not sbatch's
OWN_OPTIONS = ("poll_interval_s", "summary")
# sacct states after which a job will not run again
FINAL_STATES = (
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
)


class SlurmJobFailed(UserError):
    """A job of the sweep did not complete; the message names it, its SLURM state and its log."""


# -- inside the job ---------------------------------------------------------------------------
def raise_if_failed(ret: JobReturn) -> JobReturn:
    """Re-raise the task's exception so that the SLURM job ends FAILED (and its log shows it)."""
    if ret.status == JobStatus.FAILED:
        exc = job_return_value(ret)
        log.error("the job failed", exc_info=(type(exc), exc, exc.__traceback__))
        raise exc
    return ret


# what a SLURM job's Trainer gets (see `slurm_requeue`): built by the runner from the job's config
REQUEUE_CALLBACK = {
    "_target_": "lalm_framework.launching.slurm_requeue.SaveOnTermination",
    "checkpoint_dir": "${paths.checkpoint_dir}",
}
# Lightning's own SLURM auto-requeue off: submitit's requeue is the one mechanism
SLURM_ENVIRONMENT = {"_target_": "lightning_fabric.plugins.environments.SLURMEnvironment", "auto_requeue": False}


def add_requeue_nodes(cfg: DictConfig) -> None:
    """Put the requeue callback and plugin into a job config that has `callbacks` and `trainer.plugins`.

    Other Hydra apps (no such nodes) are left as they are.
    """
    if not isinstance(cfg.get("callbacks"), DictConfig) or "plugins" not in (cfg.get("trainer") or {}):
        return
    with open_dict(cfg):
        cfg.callbacks.slurm_requeue = REQUEUE_CALLBACK
        plugins = list(cfg.trainer.plugins or [])
        if SLURM_ENVIRONMENT not in plugins:
            cfg.trainer.plugins = [*plugins, SLURM_ENVIRONMENT]


@contextlib.contextmanager
def requeue_nodes_in_job(launcher: Any) -> Iterator[None]:
    """While the launcher runs its job here: the task receives its config with `add_requeue_nodes` applied."""
    task = launcher.task_function

    def task_with_requeue(cfg: DictConfig) -> Any:
        add_requeue_nodes(cfg)
        return task(cfg)

    launcher.task_function = task_with_requeue
    try:
        yield
    finally:
        launcher.task_function = task


def save_for_requeue() -> Path | None:
    """Save the running fit before submitit requeues the job (no-op when no fit has started)."""
    if "lalm_framework.launching.slurm_requeue" not in sys.modules:
        return None  # Lightning never loaded in this job: no trainer to save
    from lalm_framework.launching.slurm_requeue import save_for_requeue as save

    return save()


# -- in the launcher process ------------------------------------------------------------------
def launch(
    launcher: LalmSlurmLauncher, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> list[JobReturn]:
    """Validate all jobs, submit them as one array, wait, summarise; JobReturns in input order."""
    assert launcher.config is not None
    jobs = [list(o) for o in job_overrides]
    log.info("lalm_slurm: checking %d job(s)", len(jobs))
    _validate_jobs(launcher, jobs, initial_job_idx)
    executor = _executor(launcher)
    sweep_dir = Path(str(launcher.config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if "mode" in launcher.config.hydra.sweep:
        os.chmod(sweep_dir, mode=int(str(launcher.config.hydra.sweep.mode), 8))
    log.info("lalm_slurm: submitting %d job(s) as one array; sweep dir %s", len(jobs), sweep_dir)
    for i, overrides in enumerate(jobs):
        log.info("\t#%d : %s", initial_job_idx + i, " ".join(filter_overrides(overrides)))
    params = [
        (overrides, "hydra.sweep.dir", initial_job_idx + i, f"job_id_for_{initial_job_idx + i}", Singleton.get_state())
        for i, overrides in enumerate(jobs)
    ]
    submitted = _submit(executor, launcher, params)
    log.info("lalm_slurm: array job %s", submitted[0].job_id.split("_")[0])
    poll = float(launcher.params.get("poll_interval_s", 2.0))
    _wait(submitted, launcher.params, poll)
    log.info("lalm_slurm: all %d job(s) ended", len(jobs))
    states = _final_states([j.job_id for j in submitted], timeout_s=max(30.0, 10 * poll))
    returns, rows = _collect(submitted, jobs, initial_job_idx, states)
    if launcher.params.get("summary", True):
        from lalm_framework.launching.report import summary_table

        summary_table(rows, title="lalm_slurm summary")
    failed = [r for r in returns if r.status != JobStatus.COMPLETED]
    if failed:
        log.error("lalm_slurm: %d of %d job(s) did not complete", len(failed), len(returns))
    return returns


def _validate_jobs(launcher: LalmSlurmLauncher, jobs: list[list[str]], first_idx: int) -> None:
    """Compose every job and check it against the one SLURM request, before the single sbatch.

    Semantic checks of lalm-train configs run earlier (the ValidateJobsCallback, the Optuna
    sweeper per trial); this catches what only the launcher knows, for any Hydra app and sweeper.
    """
    from lalm_framework.errors import describe

    assert launcher.config is not None and launcher.hydra_context is not None
    loader = launcher.hydra_context.config_loader
    request = {k: v for k, v in launcher.params.items() if k not in OWN_OPTIONS}
    request["_target_"] = type(launcher).__module__ + "." + type(launcher).__name__
    for i, overrides in enumerate(jobs):
        label = f"Job #{first_idx + i} ({' '.join(overrides) or 'no overrides'})"
        try:
            job_cfg = loader.load_sweep_config(launcher.config, overrides)
        except Exception as e:
            raise UserError(f"{label} is invalid; nothing was submitted.\n{describe(e) or e}") from e
        check_slurm_resources(job_cfg, request, job_label=label)


def _executor(launcher: LalmSlurmLauncher) -> Any:
    """The submitit executor for the launcher's options (the mapping hydra-submitit does)."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    params = {k: v for k, v in launcher.params.items() if k not in OWN_OPTIONS}
    executor = submitit.AutoExecutor(
        cluster="slurm", folder=params.pop("submitit_folder"), slurm_max_num_timeout=params.pop("max_num_timeout")
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    return executor


def _submit(executor: Any, launcher: LalmSlurmLauncher, params: list[tuple]) -> list[Any]:
    """One `sbatch` for the whole array; its refusal becomes a short UserError."""
    from submitit.core.utils import FailedJobError

    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):  # submitit echoes sbatch's stderr; we word it once
            return executor.map_array(launcher, *zip(*params, strict=True))
    except FailedJobError as e:
        lines = [ln.replace("sbatch: error:", "").strip() for ln in str(e).splitlines() if ln.strip()]
        reason = "; ".join(dict.fromkeys(lines)) or "no message"
        raise UserError(
            f"sbatch refused the job array: {reason}.\nNothing was submitted. Fix the "
            f"hydra.launcher.* request ({_request_text(launcher.params)}); `sinfo -s` lists "
            "partitions, `sinfo -o '%P %c %m %G %l'` their CPUs, memory, GPUs and time "
            "limits."
        ) from None


def _request_text(params: Mapping[str, Any]) -> str:
    keys = (
        "partition",
        "account",
        "qos",
        "nodes",
        "tasks_per_node",
        "cpus_per_task",
        "gpus_per_node",
        "mem_gb",
        "timeout_min",
        "constraint",
        "gres",
    )
    return ", ".join(f"{k}={params[k]}" for k in keys if params.get(k) is not None)


def _wait(jobs: list[Any], params: Mapping[str, Any], poll_s: float) -> None:
    """Until every job is done; cancel the array and raise when SLURM would never start a job."""
    array_id = jobs[0].job_id.split("_")[0]
    while not all(j.done() for j in jobs):
        for task, reason in _pending_reasons(array_id).items():
            meaning = never_starts(reason)
            if meaning:
                _run(["scancel", array_id])
                raise UserError(
                    f"SLURM will never start job {task}: pending with reason {reason} ({meaning}).\n"
                    f"Cancelled array {array_id}; nothing ran. Fix the hydra.launcher.* request "
                    f"({_request_text(params)}); `sinfo -o '%P %c %m %G %l'` shows what the "
                    "partitions offer."
                )
        time.sleep(poll_s)


def _pending_reasons(array_id: str) -> dict[str, str]:
    out = _run(["squeue", "-h", "-r", "-j", array_id, "-t", "PENDING", "-o", "%i|%r"]) or ""
    return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)


def _final_states(job_ids: list[str], timeout_s: float) -> dict[str, dict[str, str]]:
    """sacct's record of each job once final (accounting lags the end of a job by a moment)."""
    array_id = job_ids[0].split("_")[0]
    deadline = time.monotonic() + timeout_s
    rows: dict[str, dict[str, str]] = {}
    while True:
        out = _run(["sacct", "-X", "-n", "-P", "-j", array_id, "-o", "JobID,State,ExitCode,ElapsedRaw"])
        if out is None:
            return {}  # accounting disabled: the summary shows what the jobs reported
        rows = {}
        for line in out.splitlines():
            job_id, state, exit_code, elapsed = (line.split("|") + ["", "", "", ""])[:4]
            rows[job_id] = {"state": state.split()[0] if state else "UNKNOWN", "exit": exit_code, "elapsed": elapsed}
        if all(rows.get(j, {}).get("state", "").startswith(FINAL_STATES) for j in job_ids):
            return rows
        if time.monotonic() > deadline:
            log.warning("sacct has no final state yet for some jobs of array %s", array_id)
            return rows
        time.sleep(0.5)


def _collect(
    jobs: list[Any], overrides: list[list[str]], first_idx: int, states: Mapping[str, Mapping[str, str]]
) -> tuple:
    from lalm_framework.launching.report import JobRow

    returns = [_job_return(job, ov) for job, ov in zip(jobs, overrides, strict=True)]
    job_states = []
    for job, ret in zip(jobs, returns, strict=True):
        state = states.get(job.job_id, {}).get("state")
        if state is None:  # no accounting on this cluster: what the job itself reported
            state = "COMPLETED" if ret.status == JobStatus.COMPLETED else "FAILED"
        elif ret.status == JobStatus.COMPLETED and state != "COMPLETED" and state.startswith(FINAL_STATES):
            # the task returned, then the job died (killed at exit, out of memory): not a success
            ret.status = JobStatus.FAILED
        job_states.append(state)
    failed = sum(1 for r in returns if r.status != JobStatus.COMPLETED)
    rows = []
    for i, (job, ov, ret, state) in enumerate(zip(jobs, overrides, returns, job_states, strict=True)):
        idx = first_idx + i
        if ret.status != JobStatus.COMPLETED:
            ret.return_value = SlurmJobFailed(
                f"Job #{idx} ({' '.join(ov) or 'no overrides'}) ended {state} in SLURM (job {job.job_id}); "
                f"{failed} of {len(jobs)} job(s) did not complete, see the summary above.\n"
                f"{_last_error_line(job)}Its log: {job.paths.stderr}"
            )
        elapsed = states.get(job.job_id, {}).get("elapsed") or "0"
        rows.append(
            JobRow(
                idx=idx,
                overrides=ov,
                status=state,
                metric=job_return_value(ret) if ret.status == JobStatus.COMPLETED else None,
                duration_s=float(elapsed) if elapsed.isdigit() else 0.0,
                log_path=str(job.paths.stderr),
            )
        )
    return returns, rows


def _job_return(job: Any, overrides: list[str]) -> JobReturn:
    """The job's own JobReturn, or a FAILED one when it raised or produced no result."""
    from submitit.core.utils import FailedJobError, UncompletedJobError

    try:
        return job.results()[0]
    except (FailedJobError, UncompletedJobError):
        return JobReturn(overrides=overrides, status=JobStatus.FAILED)


def _last_error_line(job: Any) -> str:
    """The exception line at the end of the job's error log, if there is one."""
    try:
        lines = [ln for ln in Path(job.paths.stderr).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    for line in reversed(lines):
        text = line.strip()
        head = text.split(":", 1)[0]
        if head and " " not in head and (head.endswith(("Error", "Exception", "Interrupt")) or "." in head):
            return f"{text}\n"
    return ""


def _run(cmd: list[str]) -> str | None:
    """A SLURM client command's stdout, or None when it fails (callers poll again or do without)."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("%s: %s", " ".join(cmd), e)
        return None
    if out.returncode:
        log.debug("%s failed: %s", " ".join(cmd), out.stderr.strip())
        return None
    return out.stdout
