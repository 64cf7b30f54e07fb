"""Worker mode (`hydra.sweeper.workers=N`) under lalm_pool: real worker processes, real SQLite and
journal storage, a worker SIGKILLed mid-trial (its trial comes back to the other worker)."""

from __future__ import annotations

import csv
import os
import signal
import time

import pytest
from optuna.trial import TrialState

from tests.tuning.toy_study import load_study, run_toy, start_toy

pytestmark = pytest.mark.torchfree  # the toy app imports no torch

POOL = ["hydra/launcher=lalm_pool", "hydra.launcher.preload=[]", "hydra.sweeper.workers=2"]


def _rows(sweep_dir):
    with open(sweep_dir / "trials.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_two_workers_share_the_budget_prune_and_record_each_trial(sweep_dir):
    proc = run_toy(
        sweep_dir,
        *POOL,
        "hydra.sweeper.n_trials=8",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=3",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "epochs=6",
    )
    study = load_study(sweep_dir)
    states = [t.state for t in study.trials]
    assert len(states) == 8 and TrialState.FAIL not in states  # n_trials is the total of both workers
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
    workers = {t.user_attrs["worker"] for t in study.trials}
    assert len(workers) == 2  # both workers ran trials
    job_dirs = {t.user_attrs["job_dir"] for t in study.trials}
    assert job_dirs == {str(sweep_dir / str(n)) for n in range(8)}  # job dir number = trial number
    assert all((sweep_dir / str(n) / ".hydra" / "overrides.yaml").exists() for n in range(8))
    rows = _rows(sweep_dir)
    assert [r["state"] for r in rows] == [s.name for s in states]
    pruned, complete = states.count(TrialState.PRUNED), states.count(TrialState.COMPLETE)
    assert f"{complete} COMPLETE" in proc.stderr + proc.stdout and f"{pruned} PRUNED" in proc.stderr + proc.stdout
    # a rerun of a finished study runs nothing
    run_toy(sweep_dir, *POOL, "hydra.sweeper.n_trials=8", "hydra/sweeper/pruner=median", "epochs=6")
    assert len(load_study(sweep_dir).trials) == 8


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_worker_killed_mid_trial_its_trial_is_retried_and_the_budget_holds(sweep_dir, tmp_path, storage):
    args = [
        *POOL,
        *(["hydra.sweeper.storage=journal"] if storage == "journal" else []),
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.heartbeat_interval=0.5",
        "hydra.sweeper.grace_period=4",
        "hydra/sweeper/pruner=none",
        "seconds_per_epoch=1.0",
        "epochs=5",
    ]
    log = tmp_path / "sweep.log"
    proc = start_toy(sweep_dir, log, *args)
    try:
        victim = _running_trial(sweep_dir, storage, proc, time.time() + 180)
        os.kill(int(victim.user_attrs["worker"].rsplit(":", 1)[1]), signal.SIGKILL)  # the worker, mid-trial
        assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    study = load_study(sweep_dir, _storage_url(sweep_dir, storage))
    killed = study.trials[victim.number]
    assert killed.state == TrialState.FAIL and killed.user_attrs["interrupted"]
    assert "its worker was killed" in killed.user_attrs["fail_reason"], killed.user_attrs
    (retry,) = [t for t in study.trials if t.user_attrs.get("retry_of") == victim.number]
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    assert retry.user_attrs["worker"] != killed.user_attrs["worker"]  # the other worker ran it
    counted = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(counted) == 5 and len(study.trials) == 6  # the budget holds; nothing ran twice
    job_dirs = {t.user_attrs["job_dir"] for t in counted}
    assert len(job_dirs) == 5 and str(sweep_dir / str(victim.number)) not in job_dirs  # each attempt its own
    assert (sweep_dir / str(victim.number) / "job_output.log").exists()
    assert [r["state"] for r in _rows(sweep_dir)] == [t.state.name for t in study.trials]
    assert "Worker 0 ended early" in log.read_text() or "Worker 1 ended early" in log.read_text()


def _storage_url(sweep_dir, storage):
    if storage != "journal":
        return None
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(str(sweep_dir / "optuna.journal")))


def _running_trial(sweep_dir, storage, proc, deadline):
    """The first trial whose job a worker runs (trial number = job number here)."""
    while time.time() < deadline and proc.poll() is None:
        try:
            study = load_study(sweep_dir, _storage_url(sweep_dir, storage))
        except Exception:  # not created yet
            time.sleep(0.3)
            continue
        for t in study.trials:  # its job has started: it logs in its own dir
            started = (sweep_dir / str(t.number) / "job_output.log").exists()
            if t.state == TrialState.RUNNING and "worker" in t.user_attrs and started:
                return t
        time.sleep(0.3)
    raise AssertionError("no trial ran")


@pytest.mark.slow
def test_killed_controller_rerun_settles_the_running_trials_and_reaches_n_trials(sweep_dir, tmp_path):
    """SIGKILL of the whole sweep (controller, workers, trials) mid-way: the rerun's workers find the
    trials left RUNNING silent past the grace period, mark them failed and retry them; no trial
    that ended runs again, and the study ends with exactly n_trials."""
    marker = tmp_path / "marker.txt"
    args = [
        *POOL,
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.heartbeat_interval=0.5",
        "hydra.sweeper.grace_period=3",
        "hydra/sweeper/pruner=none",
        "seconds_per_epoch=0.5",
        "epochs=4",
        f"marker={marker}",
    ]
    proc = start_toy(sweep_dir, tmp_path / "first.log", *args)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None:
            done = marker.read_text().count("done") if marker.exists() else 0
            if done >= 1 and _running_trial(sweep_dir, "sqlite", proc, deadline) is not None:
                break
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = load_study(sweep_dir)
    ended = {t.number for t in before.trials if t.state == TrialState.COMPLETE}
    # left RUNNING (SIGKILL), or handed back by a worker that its pool's SIGTERM reached first
    running = {t.number for t in before.trials if t.state == TrialState.RUNNING or t.user_attrs.get("interrupted")}
    assert ended and running
    starts_before = len(_starts(marker))

    run_toy(sweep_dir, *args)

    study = load_study(sweep_dir)
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 5
    assert {t.number for t in study.trials if t.user_attrs.get("interrupted")} == running
    assert {t.user_attrs["retry_of"] for t in study.trials if "retry_of" in t.user_attrs} == running
    started_again = {
        int(line.split()[1]) for line in marker.read_text().splitlines()[starts_before:] if "start" in line
    }
    assert not started_again & ended  # nothing that ended ran again
    assert len(study.trials) == 5 + len(running)


def _starts(marker):
    """Trial numbers of the toy app's `start` lines, in order."""
    return [int(line.split()[1]) for line in marker.read_text().splitlines() if line.startswith("start")]
