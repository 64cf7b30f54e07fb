"""End-to-end sweeps of the toy learning-curve app (examples/optuna_curves) in real subprocesses.

Real Hydra, real SQLite / journal storage, real pruners reporting from the jobs.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from tests.tuning.toy_study import load_study, run_toy, start_toy

pytestmark = pytest.mark.torchfree  # the toy app imports no torch: CI runs these on every Python


def _states(study):
    return [t.state for t in study.trials]


@pytest.mark.slow
def test_pruned_trials_are_not_failures_and_results_are_written(sweep_dir):
    run_toy(
        sweep_dir,
        "hydra.sweeper.n_trials=10",
        "hydra.sweeper.n_jobs=1",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=3",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "hydra.sweeper.plots=true",
    )
    study = load_study(sweep_dir)
    states = _states(study)
    assert len(states) == 10 and TrialState.FAIL not in states
    assert states.count(TrialState.PRUNED) >= 2 and states.count(TrialState.COMPLETE) >= 2
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert all(t.last_step < 9 for t in pruned)  # stopped early, in the job's own process
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert results.best_params.x == study.best_params["x"] and results.best_value == study.best_value
    assert results.trials == {"COMPLETE": states.count(TrialState.COMPLETE), "PRUNED": states.count(TrialState.PRUNED)}
    rows = (sweep_dir / "trials.csv").read_text().splitlines()
    assert len(rows) == 11 and rows[0].startswith("number,state,value")
    for plot in ("optimization_history", "param_importances", "intermediate_values"):
        assert (sweep_dir / "plots" / f"{plot}.png").stat().st_size > 1000
        assert (sweep_dir / "plots" / f"{plot}.html").stat().st_size > 1000


def test_nan_objective_is_a_failed_trial_and_the_sweep_finishes(sweep_dir):
    proc = run_toy(
        sweep_dir,
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.n_jobs=2",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=0",
        "hydra/sweeper/pruner=none",
        "nan_above=0.5",
        "hydra.sweeper.max_failure_rate=1.0",
        "epochs=2",
    )
    study = load_study(sweep_dir)
    assert len(study.trials) == 6
    for t in study.trials:
        expected = TrialState.FAIL if t.params["x"] > 0.5 else TrialState.COMPLETE
        assert t.state == expected
        if expected == TrialState.FAIL:
            assert t.user_attrs["fail_reason"] == "the objective value is nan"
    assert TrialState.FAIL in _states(study) and TrialState.COMPLETE in _states(study)
    assert "Sweep run finished" in proc.stdout + proc.stderr


def test_failure_rate_guard_stops_the_sweep_early(sweep_dir):
    proc = run_toy(
        sweep_dir,
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.n_jobs=1",
        "nan_above=-1",
        "hydra.sweeper.max_failure_rate=0.25",
        "epochs=1",
        check=False,
    )
    assert proc.returncode != 0
    assert "Sweep stopped: 3 of 3 finished trials failed" in proc.stderr
    assert len(load_study(sweep_dir).trials) == 3  # 3 > 0.25 * 8: no more trials were launched


def test_journal_storage_and_conditional_search_space(sweep_dir):
    run_toy(
        sweep_dir,
        "hydra.sweeper.storage=journal",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.pruner.n_startup_trials=1",
        "hydra.sweeper.params=null",
        "hydra.sweeper.custom_search_space=space_hooks.region_then_x",
    )
    study = load_study(sweep_dir, storage=_journal(sweep_dir / "optuna.journal"))
    assert len(study.trials) == 4
    for t in study.trials:
        low = t.params["+region"] == "low"
        assert (t.params["x"] < 0.5) == low
        assert f"epochs={6 if low else 3}" in t.user_attrs["overrides"]
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED)


def _journal(path: Path):
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(str(path)))


def _marker_lines(marker: Path, kind: str):
    if not marker.exists():
        return []
    return [line.split() for line in marker.read_text().splitlines() if line.startswith(kind)]


@pytest.mark.slow
def test_async_trials_start_as_soon_as_a_lalm_pool_worker_frees(sweep_dir, tmp_path):
    marker = tmp_path / "marker.txt"
    # trial 0 runs 8 s; trials 1-3 are short: they run one after another beside it
    run_toy(
        sweep_dir,
        "hydra/launcher=lalm_pool",
        "hydra.launcher.preload=[]",  # the toy app imports neither torch nor Lightning
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        "hydra/sweeper/pruner=none",
        "durations=[8.0,0.1,0.1,0.1]",
        "epochs=2",
        f"marker={marker}",
    )
    start = {int(n): float(t) for _, n, _, t in _marker_lines(marker, "start")}
    done = {int(n): float(t) for _, n, _, t in _marker_lines(marker, "done")}
    assert sorted(done) == [0, 1, 2, 3]
    assert start[2] < done[0]  # batch-synchronous sweeps would wait for trial 0 here
    for t in start:  # never more than n_jobs=2 in flight
        assert sum(start[o] <= start[t] < done[o] for o in start) <= 2
    assert [s.name for s in _states(load_study(sweep_dir))] == ["COMPLETE"] * 4


@pytest.mark.slow
def test_killed_sweep_resumes_to_exactly_n_trials_without_rerun_or_overwrite(sweep_dir, tmp_path):
    marker = tmp_path / "marker.txt"
    args = [
        "hydra/launcher=lalm_pool",
        "hydra.launcher.preload=[]",  # the toy app imports neither torch nor Lightning
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=6",
        "hydra/sweeper/pruner=none",
        "seconds_per_epoch=0.3",
        "epochs=4",
        f"marker={marker}",
    ]
    log = tmp_path / "first_run.log"
    proc = start_toy(sweep_dir, log, *args)
    deadline = time.time() + 180
    while log.read_text().count(" COMPLETE value=") < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweeper and its pool workers, mid-way
    proc.wait()
    killed = load_study(sweep_dir)
    completed_before = {t.number: t.params for t in killed.trials if t.state == TrialState.COMPLETE}
    running_before = {t.number: t.params for t in killed.trials if t.state == TrialState.RUNNING}
    assert 2 <= len(completed_before) < 6 and running_before
    starts_before = len(_marker_lines(marker, "start"))
    first = {p: p.stat().st_mtime_ns for p in sweep_dir.glob("[0-9]*/**/*") if p.is_file()}

    run_toy(sweep_dir, *args)

    study = load_study(sweep_dir)
    counted = [t for t in study.trials if t.state == TrialState.COMPLETE]
    interrupted = {t.number for t in study.trials if t.user_attrs.get("interrupted")}
    assert len(counted) == 6 and len(study.trials) == 6 + len(interrupted)
    assert interrupted == set(running_before)  # marked FAIL, and each retried with its params
    assert all(study.trials[n].state == TrialState.FAIL for n in interrupted)
    retries = {t.user_attrs["retry_of"]: t.params for t in study.trials if "retry_of" in t.user_attrs}
    assert retries.keys() == running_before.keys()
    for number, params in running_before.items():  # a trial killed before its params were set samples anew
        assert not params or retries[number] == params
    started_again = {int(x[1]) for x in _marker_lines(marker, "start")[starts_before:]}
    assert not started_again & set(completed_before)  # completed trials were not run again
    assert len(started_again) == 6 - len(completed_before)
    for path, mtime in first.items():  # nothing the first run wrote was touched
        assert path.stat().st_mtime_ns == mtime, path
    job_dirs = [t.user_attrs["job_dir"] for t in counted]
    assert len(set(job_dirs)) == 6


def test_joblib_launcher_runs_batches_and_prunes_across_processes(sweep_dir):
    run_toy(
        sweep_dir,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=0",
        "epochs=6",
    )
    states = _states(load_study(sweep_dir))
    assert len(states) == 6 and TrialState.PRUNED in states and TrialState.FAIL not in states
