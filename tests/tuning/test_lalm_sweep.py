"""`lalm-train -m` sweeps through the Lightning runner: the pruning callback reports from the job.

Grid over learning rates: two that learn (the pruner's start-up trials), then one far too small whose
first validation is worse than the median, so the median pruner stops it at epoch 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from tests.helpers import cli_env
from tests.tuning.toy_study import load_study

COMMON = [
    "hydra/sweeper/sampler=grid",
    "hydra/sweeper/pruner=median",
    "hydra.sweeper.pruner.n_startup_trials=2",
    "hydra.sweeper.n_jobs=1",
    "hydra.sweeper.plots=false",
    "logger=none",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


def _lalm_train(cwd: Path, *overrides: str) -> Path:
    cmd = [sys.executable, "-m", "lalm_framework.cli.train", "-m", *overrides]
    proc = subprocess.run(cmd, cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # no hydra.sweep.dir given: the sweeper keeps the study in a stable dir named after it
    (sweep_dir,) = (cwd / "multirun").glob("*/optuna/*")
    return sweep_dir


def _assert_pruned_not_failed(sweep_dir: Path, n_trials: int) -> None:
    study = load_study(sweep_dir)
    states = [t.state for t in study.trials]
    assert len(states) == n_trials and TrialState.FAIL not in states
    assert states[:2] == [TrialState.COMPLETE] * 2 and TrialState.PRUNED in states[2:]
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert results.best_params.lr == study.best_params["lr"] and results.best_value == study.best_value
    assert results.trials.get("FAIL") is None
    for t in study.trials:
        record = json.loads((Path(t.user_attrs["job_dir"]) / "run.json").read_text())
        expected = "pruned" if t.state == TrialState.PRUNED else "completed"
        assert record["attempts"][-1]["status"] == expected


@pytest.mark.slow
def test_digits_sweep_prunes_through_the_lightning_callback(tmp_path):
    sweep_dir = _lalm_train(
        tmp_path,
        "experiment=digits",
        "trainer.max_epochs=3",
        "lr=choice(0.03,0.01,1e-6)",
        "hydra/sweeper=lalm_optuna",
        *COMMON,
    )
    _assert_pruned_not_failed(sweep_dir, 3)


@pytest.mark.slow
def test_tiny_lalm_sweep_with_pruner(tmp_path):
    sweep_dir = _lalm_train(
        tmp_path,
        "hparams_search=lalm_lr",
        "debug=limit_batches",
        "trainer.max_epochs=3",
        "model.warmup_steps=0",
        "model.wer_every_n_val=0",
        "lr=choice(3e-3,1e-2,1e-7)",
        *COMMON,
    )
    _assert_pruned_not_failed(sweep_dir, 3)
