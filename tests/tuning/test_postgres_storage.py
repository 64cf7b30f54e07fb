"""Optuna sweeps against a real PostgreSQL server (started on loopback by the test, then stopped).

The same toy sweep as the SQLite tests, with `hydra.sweeper.storage=postgresql+psycopg2://...`:
the controller asks/tells there, and every job opens the same URL to report its learning curve
(pruning). A rerun with a larger budget continues the study (n_trials is the total).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tuning.postgres_server import cannot_run_here, postgres_server
from tests.tuning.toy_study import load_study, run_toy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(cannot_run_here() is not None, reason=str(cannot_run_here())),
]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def _states(sweep_dir: Path) -> list[str]:
    with open(sweep_dir / "trials.csv", newline="") as f:
        return [row["state"] for row in csv.DictReader(f)]


def test_pool_sweep_on_postgres_prunes_and_continues_to_the_total_budget(tmp_path: Path, pg_url: str) -> None:
    sweep_dir = tmp_path / "sweep"
    common = (
        f"hydra.sweeper.storage={pg_url}",
        "hydra/launcher=lalm_pool",
        "hydra.launcher.n_jobs=2",
        "hydra.launcher.status_line=false",
        "hydra.sweeper.n_jobs=2",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=3",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "epochs=6",
    )
    run_toy(sweep_dir, "hydra.sweeper.n_trials=6", *common)
    study = load_study(sweep_dir, storage=pg_url)
    assert len(study.trials) == 6
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 6, [t.state for t in study.trials]
    # every job reported its curve to the server (what the pruner reads)
    assert all(t.intermediate_values for t in study.trials)
    assert not (sweep_dir / "optuna.db").exists()  # nothing fell back to the default SQLite file
    assert sorted(_states(sweep_dir)) == sorted(t.state.name for t in study.trials)

    run_toy(sweep_dir, "hydra.sweeper.n_trials=9", *common)
    study = load_study(sweep_dir, storage=pg_url)
    assert len(study.trials) == 9
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials) == 9
    assert len(_states(sweep_dir)) == 9


def test_unreachable_postgres_names_the_server_and_the_fix_before_any_job(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = run_toy(
        sweep_dir,
        "hydra.sweeper.storage=postgresql+psycopg2://nobody:pw-not-shown-1@127.0.0.1:9/optuna",
        "hydra.sweeper.n_trials=2",
        check=False,
    )
    assert proc.returncode != 0
    err = proc.stderr
    assert "cannot open the study's database" in err and "127.0.0.1" in err, err[-2000:]
    assert "Start the database server" in err
    assert "pw-not-shown-1" not in err + proc.stdout
    assert not [p for p in sweep_dir.iterdir() if p.name.isdigit()]  # no job ran
