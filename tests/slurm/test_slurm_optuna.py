"""Optuna sweeps (`hydra/sweeper=lalm_optuna`) through the SLURM launcher on the real test cluster.

One SLURM job per trial, submitted as soon as a slot frees; the study lives in a journal file (the
default under SLURM) that the jobs write to while they prune. A controller killed with SIGKILL
leaves its jobs in SLURM: the rerun records the finished ones and follows the others.
"""

from __future__ import annotations

import json
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState
from slurm_testing import Cluster, run_sweep, start_sweep, wait_until

from tests.tuning.toy_study import TOY_APP, load_study

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

TOY_SLURM = [
    "hydra/launcher=lalm_slurm",
    "hydra.launcher.timeout_min=5",
    "hydra.launcher.poll_interval_s=1",
    "hydra.sweeper.plots=false",
    "hydra/sweeper/pruner=none",
    "epochs=2",
]


def _journal_study(sweep_dir: Path) -> Any:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    journal = sweep_dir / "optuna.journal"
    return load_study(sweep_dir, storage=JournalStorage(JournalFileBackend(str(journal))))


def _ledger(sweep_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (sweep_dir / ".submitit" / "lalm_slurm_jobs.jsonl").read_text().splitlines()]


def _trial_of(entry: dict[str, Any]) -> int:
    (number,) = [int(o.split("=")[1]) for o in entry["overrides"] if o.startswith("trial.trial_number=")]
    return number


def _sacct_times(cluster: Cluster, job_ids: list[str]) -> dict[str, tuple[str, datetime, datetime]]:
    out = cluster.run("sacct", "-X", "-n", "-P", "-j", ",".join(job_ids), "-o", "JobID,State,Start,End")
    rows = {}
    for line in out.splitlines():
        job_id, state, start, end = line.split("|")
        rows[job_id] = (state, datetime.fromisoformat(start), datetime.fromisoformat(end))
    return rows


def _toy(sweep_dir: Path, *overrides: str) -> list[str]:
    return ["-m", f"hydra.sweep.dir={sweep_dir}", *TOY_SLURM, *overrides]


def _env_for_toy(monkeypatch: pytest.MonkeyPatch) -> None:
    # the SLURM job unpickles the app's task function, which imports `curves` from the app's dir
    monkeypatch.setenv("PYTHONPATH", str(TOY_APP.parent))


def test_lalm_train_sweep_prunes_across_processes_and_pruned_jobs_complete_in_slurm(
    slurm_cluster: Cluster, tmp_path: Path
) -> None:
    proc = run_sweep(
        [
            "-m",
            "hydra/launcher=slurm_cpu",
            "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.mem_gb=1",
            "hydra.launcher.poll_interval_s=1",
            "experiment=digits",
            "logger=none",
            "trainer.max_epochs=3",
            "trainer.enable_progress_bar=false",
            "hydra/sweeper=lalm_optuna",
            "hydra/sweeper/sampler=grid",
            "lr=choice(0.03,0.01,1e-6)",
            "hydra.sweeper.n_jobs=2",
            "hydra/sweeper/pruner=median",
            "hydra.sweeper.pruner.n_startup_trials=2",
            "hydra.sweeper.plots=false",
        ],
        cwd=tmp_path,
        cluster=slurm_cluster,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    (sweep_dir,) = (tmp_path / "multirun").glob("*/optuna/*")
    study = _journal_study(sweep_dir)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    assert (sweep_dir / "optimization_results.yaml").exists() and (sweep_dir / "trials.csv").exists()
    # one SLURM job per trial (no array), each COMPLETED: a pruned trial is not a failed job
    jobs = _ledger(sweep_dir)
    assert sorted(_trial_of(j) for j in jobs) == [0, 1, 2] and not any("_" in j["job_id"] for j in jobs)
    assert {s for s, _, _ in _sacct_times(slurm_cluster, [j["job_id"] for j in jobs]).values()} == {"COMPLETED"}
    assert "COMPLETED (pruned)" in out and "lalm_slurm summary" in out


def test_trials_are_submitted_as_soon_as_a_slot_frees(
    slurm_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trial 1 is long: trials 2-4 run beside it one after the other, never more than n_jobs=2."""
    _env_for_toy(monkeypatch)
    sweep_dir = tmp_path / "sweep"
    proc = run_sweep(
        _toy(sweep_dir, "hydra.sweeper.n_trials=5", "hydra.sweeper.n_jobs=2", "durations=[2,30,2,2,2]"),
        cwd=tmp_path,
        cluster=slurm_cluster,
        app=TOY_APP,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    assert [t.state for t in _journal_study(sweep_dir).trials] == [TrialState.COMPLETE] * 5
    jobs = {_trial_of(j): j["job_id"] for j in _ledger(sweep_dir)}
    times = _sacct_times(slurm_cluster, list(jobs.values()))
    span = {n: times[job_id][1:] for n, job_id in jobs.items()}
    long_end = span[1][1]
    assert all(span[n][1] <= long_end for n in (2, 3, 4)), span  # all ran while trial 1 did
    assert span[4][0] >= span[2][1] and span[4][0] < long_end  # each waited for a free slot only
    edges = sorted([(s, 1) for s, _ in span.values()] + [(e, -1) for _, e in span.values()])
    running = peak = 0
    for _, step in edges:  # ends sort before starts of the same second
        running += step
        peak = max(peak, running)
    assert peak == 2


def test_killed_controller_rerun_records_finished_and_follows_running_and_pending_trials(
    slurm_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL of the controller with trial 0 finished but not recorded, trials 1 and 2 running and
    trial 3 pending in SLURM. The rerun records 0 from its job, waits for 1-3, runs 4-5: six
    trials, six SLURM jobs, none counted twice, none lost."""
    _env_for_toy(monkeypatch)
    sweep_dir = tmp_path / "sweep"
    # 4 CPUs per job on two 4-CPU nodes: two jobs run, the others wait
    args = _toy(
        sweep_dir,
        "hydra.launcher.cpus_per_task=4",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.n_jobs=4",
        "durations=[3,40,30,30,3,3]",
    )
    sweep = start_sweep(args, tmp_path, slurm_cluster, tmp_path / "first.log", app=TOY_APP)
    try:
        ledger = sweep_dir / ".submitit" / "lalm_slurm_jobs.jsonl"
        wait_until("4 submitted trials", lambda: ledger.exists() and len(_ledger(sweep_dir)) == 4, proc=sweep)
        sweep.send_signal(signal.SIGSTOP)  # the controller records nothing from now on
        jobs = {_trial_of(j): j["job_id"] for j in _ledger(sweep_dir)}

        def states() -> dict[int, str]:
            out = slurm_cluster.run("squeue", "-h", "-t", "all", "-j", ",".join(jobs.values()), "-o", "%i|%T")
            by_id = dict(line.split("|") for line in out.splitlines())
            return {n: by_id.get(job_id, "?") for n, job_id in jobs.items()}

        wait_until("trial 0 done, 1 and 2 running, 3 pending", lambda: list(states().values()) == [
            "COMPLETED", "RUNNING", "RUNNING", "PENDING"], timeout_s=90)  # fmt: skip
    finally:
        sweep.kill()  # SIGKILL (also when stopped)
        sweep.wait(timeout=30)
    study = _journal_study(sweep_dir)
    assert [t.state for t in study.trials] == [TrialState.RUNNING] * 4  # the first controller lost track

    rerun = run_sweep(args, cwd=tmp_path, cluster=slurm_cluster, app=TOY_APP)
    out = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, out[-5000:]
    assert "Trials [0] had finished while no sweep recorded them: recorded from their jobs." in out
    assert "Trials [1, 2, 3] still have their jobs in SLURM" in out
    study = _journal_study(sweep_dir)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    assert not any(t.user_attrs.get("interrupted") or t.user_attrs.get("retry_of") is not None for t in study.trials)
    ledger_jobs = _ledger(sweep_dir)
    assert sorted(_trial_of(j) for j in ledger_jobs) == list(range(6))  # one job per trial, none resubmitted
    times = _sacct_times(slurm_cluster, [j["job_id"] for j in ledger_jobs])
    assert [s for s, _, _ in times.values()] == ["COMPLETED"] * 6
    assert sorted(p.name for p in sweep_dir.iterdir() if p.name.isdigit()) == [str(n) for n in range(6)]


def test_sigterm_cancels_the_trials_in_slurm_and_a_rerun_retries_them(
    slurm_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env_for_toy(monkeypatch)
    sweep_dir = tmp_path / "sweep"
    # trials 0 and 1 run long; 2-4 (the rerun's) are short
    args = _toy(sweep_dir, "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=2", "durations=[300,300,2,2,2]")
    sweep = start_sweep(args, tmp_path, slurm_cluster, tmp_path / "first.log", app=TOY_APP)
    ledger = sweep_dir / ".submitit" / "lalm_slurm_jobs.jsonl"
    try:
        wait_until("2 submitted trials", lambda: ledger.exists() and len(_ledger(sweep_dir)) == 2, proc=sweep)
        jobs = [j["job_id"] for j in _ledger(sweep_dir)]

        def listed() -> list[str]:
            return slurm_cluster.run("squeue", "-h", "-j", ",".join(jobs), "-o", "%T").split()

        wait_until("both running", lambda: listed() == ["RUNNING", "RUNNING"], proc=sweep)
        sweep.send_signal(signal.SIGTERM)
        assert sweep.wait(timeout=120) == 128 + signal.SIGTERM
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert listed() == []  # squeue shows none of the sweep's jobs
    assert "SIGTERM received: cancelling 2 job(s) still in SLURM" in (tmp_path / "first.log").read_text()

    # the rerun: the cancelled trials did not end on their own, so they are retried with their params
    # (trials 2 and 3 are those retries, 4 the third trial)
    rerun = run_sweep(args, cwd=tmp_path, cluster=slurm_cluster, app=TOY_APP)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-5000:]
    study = _journal_study(sweep_dir)
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2 + [TrialState.COMPLETE] * 3
    assert all(t.user_attrs.get("interrupted") for t in study.trials[:2])  # not counted
    retries = {t.user_attrs.get("retry_of"): t.params for t in study.trials[2:]}
    assert retries[0] == study.trials[0].params and retries[1] == study.trials[1].params


def test_batch_mode_rerun_waits_for_the_jobs_it_finds_in_slurm(
    slurm_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`asynchronous=false` (arrays of n_jobs trials): the rerun waits for the killed controller's
    running job, records it, and only then starts its own batches."""
    _env_for_toy(monkeypatch)
    sweep_dir = tmp_path / "sweep"
    args = _toy(
        sweep_dir,
        "hydra.sweeper.asynchronous=false",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.n_jobs=2",
        "durations=[2,25,2]",
    )
    sweep = start_sweep(args, tmp_path, slurm_cluster, tmp_path / "first.log", app=TOY_APP)
    try:
        ledger = sweep_dir / ".submitit" / "lalm_slurm_jobs.jsonl"
        wait_until("the first batch", lambda: ledger.exists() and len(_ledger(sweep_dir)) == 2, proc=sweep)
        sweep.send_signal(signal.SIGSTOP)
        jobs = {_trial_of(j): j["job_id"] for j in _ledger(sweep_dir)}

        def state(n: int) -> str:
            return slurm_cluster.run("squeue", "-h", "-t", "all", "-j", jobs[n], "-o", "%T").strip()

        wait_until("trial 0 done, 1 running", lambda: (state(0), state(1)) == ("COMPLETED", "RUNNING"), timeout_s=90)
    finally:
        sweep.kill()
        sweep.wait(timeout=30)
    rerun = run_sweep(args, cwd=tmp_path, cluster=slurm_cluster, app=TOY_APP)
    out = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, out[-5000:]
    assert "Trials [1] still have their jobs in SLURM" in out
    study = _journal_study(sweep_dir)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert sorted(_trial_of(j) for j in _ledger(sweep_dir)) == [0, 1, 2]
    times = _sacct_times(slurm_cluster, [j["job_id"] for j in _ledger(sweep_dir)])
    trial2 = next(times[j["job_id"]] for j in _ledger(sweep_dir) if _trial_of(j) == 2)
    assert trial2[1] >= times[jobs[1]][2]  # its batch started after the followed job ended


def test_worker_mode_scancel_of_one_worker_retries_its_trial_and_the_other_worker_finishes(
    slurm_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hydra.sweeper.workers=2`: two SLURM jobs run the trials; one is scancelled mid-trial. Its
    trial ends FAIL (interrupted, not counted) and comes back, with its params, to the other worker,
    which runs the study to exactly n_trials and completes in SLURM."""
    _env_for_toy(monkeypatch)
    sweep_dir = tmp_path / "sweep"
    args = _toy(
        sweep_dir,
        "hydra.sweeper.workers=2",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.heartbeat_interval=1",
        "hydra.sweeper.grace_period=10",
        "durations=[20,20,3,3,3,3,3]",
    )
    sweep = start_sweep(args, tmp_path, slurm_cluster, tmp_path / "first.log", app=TOY_APP)

    def running_trial() -> Any:
        try:
            study = _journal_study(sweep_dir)
        except Exception:  # the study is not there yet
            return None
        for t in study.trials:  # its job has started: it logs in its own dir (job number = trial number)
            if t.state == TrialState.RUNNING and "worker_slurm_job" in t.user_attrs:
                if (sweep_dir / str(t.number) / "job_output.log").exists():
                    return t
        return None

    try:
        wait_until("a worker running a trial", running_trial, timeout_s=240, proc=sweep)
        victim = running_trial()
        slurm_cluster.run("scancel", victim.user_attrs["worker_slurm_job"])
        assert sweep.wait(timeout=480) == 0, (tmp_path / "first.log").read_text()[-5000:]
    finally:
        if sweep.poll() is None:
            sweep.kill()
    study = _journal_study(sweep_dir)
    killed = study.trials[victim.number]
    assert killed.state == TrialState.FAIL and killed.user_attrs["interrupted"]
    (retry,) = [t for t in study.trials if t.user_attrs.get("retry_of") == victim.number]
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    assert retry.user_attrs["worker_slurm_job"] != victim.user_attrs["worker_slurm_job"]
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 5 and len(study.trials) == 6
    workers = [j["job_id"] for j in _ledger(sweep_dir)]
    states = {job_id: s for job_id, (s, _, _) in _sacct_times(slurm_cluster, workers).items()}
    assert states[victim.user_attrs["worker_slurm_job"]].startswith("CANCELLED")
    assert states[retry.user_attrs["worker_slurm_job"]] == "COMPLETED"  # the other worker finished
