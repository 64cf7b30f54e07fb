"""`lalm-train -m` with the joblib and lalm_pool launchers: real parallel training jobs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

LALM_TRAIN = shutil.which("lalm-train") or "lalm-train"
TINY = ["experiment=digits", "trainer.max_epochs=1", "logger=none", "callbacks=none"]


def _train(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LALM_TRAIN, "-m", *TINY, f"hydra.sweep.dir={tmp_path / 'sweep'}", *overrides],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )


def _records(tmp_path: Path) -> list:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "sweep").glob("*/run.json"))]


@pytest.mark.slow
def test_joblib_launcher_trains_jobs_in_parallel_processes(tmp_path: Path) -> None:
    # the jobs wait for each other before training: they can only finish if they run at once
    barrier = [
        "+callbacks.barrier._target_=tests.launching.barrier.Barrier",
        f"+callbacks.barrier.dir={tmp_path / 'barrier'}",
        "+callbacks.barrier.parties=2",
    ]
    proc = _train(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1,2", *barrier)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = _records(tmp_path)
    assert [r["attempts"][-1]["status"] for r in records] == ["completed", "completed"]
    pids = {r["attempts"][-1]["pid"] for r in records}
    assert len(pids) == 2  # two worker processes


@pytest.mark.slow
def test_ddp_job_inside_lalm_pool_sweep_trains_once(tmp_path: Path) -> None:
    proc = _train(
        tmp_path,
        "hydra/launcher=lalm_pool",
        "trainer.devices=2",
        "trainer.accelerator=cpu",
        "trainer.strategy=ddp",
        "seed=1,2",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "sweep"
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    # nothing re-entered the sweep: no second sweep anywhere, one rank 0 and one rank 1 per job
    assert not (tmp_path / "multirun").exists() and not (tmp_path / "outputs").exists()
    for job in ("0", "1"):
        log = (sweep / job / "job_output.log").read_text()
        assert log.count("GLOBAL_RANK: 0, MEMBER: 1/2") == 1 and log.count("GLOBAL_RANK: 1, MEMBER: 2/2") == 1
        assert log.count("`Trainer.fit` stopped") <= 2 and "launching" not in log
    records = _records(tmp_path)
    assert [len(r["attempts"]) for r in records] == [1, 1]
    assert all(r["attempts"][0]["status"] == "completed" for r in records)
