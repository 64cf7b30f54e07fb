"""Optuna sweeps through the SLURM presets on the real test cluster.

Jobs run as SLURM array tasks; the study lives in a journal file (the default under SLURM) that
the jobs write to while they prune.
"""

from __future__ import annotations

import pytest
from optuna.trial import TrialState
from slurm_testing import run_sweep

from tests.tuning.conftest import load_study

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_optuna_sweep_on_slurm_prunes_through_a_journal_file(slurm_cluster, tmp_path):
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
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    (journal,) = (tmp_path / "multirun").glob("*/optuna/*/optuna.journal")
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    study = load_study(journal.parent, storage=JournalStorage(JournalFileBackend(str(journal))))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    assert (journal.parent / "optimization_results.yaml").exists()
