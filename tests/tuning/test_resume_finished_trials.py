"""Resuming an Optuna sweep after its controller was killed (SIGKILL) between a job's end and the
study's record of it: the trial is recorded from the job's own `run.json`, not trained again.

(The same under the SLURM presets, where the job's result file is the source, is in
tests/slurm/test_slurm_optuna.py.)
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.helpers import cli_env
from tests.tuning.toy_study import load_study


def _wait(what: str, check: Callable[[], bool], proc: subprocess.Popen[bytes], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        assert proc.poll() is None, f"the sweep ended before {what}"
        time.sleep(0.05)


def _status(run_json: Path) -> str | None:
    try:
        return json.loads(run_json.read_text())["attempts"][-1]["status"]
    except (OSError, ValueError, KeyError, IndexError):
        return None


@pytest.mark.slow
def test_trial_whose_job_completed_unrecorded_is_recorded_from_run_json_not_rerun(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    cmd = [
        sys.executable,
        "-m",
        "lalm_framework.cli.train",
        "-m",
        "hydra/sweeper=lalm_optuna",
        "hydra/launcher=lalm_pool",
        "hydra.launcher.status_line=false",
        f"hydra.sweep.dir={sweep_dir}",
        "experiment=digits",
        "lr=interval(0.005, 0.05)",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=1",
        "hydra/sweeper/pruner=none",
        "hydra.sweeper.plots=false",
        "trainer.max_epochs=2",
        "logger=none",
        "trainer.enable_progress_bar=false",
    ]
    first = subprocess.Popen(cmd, cwd=tmp_path, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_json = sweep_dir / "0" / "run.json"
    try:
        _wait("job 0 to start", lambda: _status(run_json) == "running", first)
        first.send_signal(signal.SIGSTOP)  # the controller records nothing from now on; the job goes on
        deadline = time.monotonic() + 300
        while _status(run_json) != "completed":
            assert time.monotonic() < deadline, f"job 0 did not complete: {_status(run_json)}"
            time.sleep(0.05)
    finally:
        first.kill()  # SIGKILL, between the job's end and the study's record of it
        first.wait(timeout=30)
    study = load_study(sweep_dir)
    assert [t.state for t in study.trials] == [TrialState.RUNNING]
    record = json.loads(run_json.read_text())
    mtime = run_json.stat().st_mtime_ns

    proc = subprocess.run(cmd, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "Trials [0] had finished while no sweep recorded them: recorded from their jobs." in out
    study = load_study(sweep_dir)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]  # no retry trial
    assert study.trials[0].value == record["objective"]
    assert study.trials[0].user_attrs["job_dir"] == str(sweep_dir / "0")
    assert run_json.stat().st_mtime_ns == mtime and len(record["attempts"]) == 1  # job 0 did not run again
    assert sorted(p.name for p in sweep_dir.iterdir() if p.name.isdigit()) == ["0", "1"]
