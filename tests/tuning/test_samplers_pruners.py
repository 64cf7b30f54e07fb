"""Every sampler and pruner option, in-process sweeps of the toy app (Hydra's sweep runner)."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from tests.tuning.toy_study import TOY_APP, load_study

sys.path.insert(0, str(TOY_APP.parent))
from curves import train


@contextlib.contextmanager
def _sweep(runner, sweep_dir: Path, *overrides: str, task=train):
    """Run the sweep; yield its study while the runner's dir (deleted on exit) still exists."""
    sweep = runner(
        calling_file=str(TOY_APP),
        calling_module=None,
        task_function=task,
        config_path="conf",
        config_name="curves",
        temp_dir=sweep_dir,
        overrides=["hydra.sweeper.plots=false", "hydra.sweeper.n_jobs=1", *overrides],
    )
    with sweep:
        yield load_study(sweep_dir)


@pytest.mark.parametrize("sampler", ["tpe", "random", "gp", "nsgaii"])
def test_samplers_run_and_complete(hydra_sweep_runner, tmp_path, sampler):
    with _sweep(
        hydra_sweep_runner,
        tmp_path / "s",
        f"hydra/sweeper/sampler={sampler}",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.seed=1",
        "hydra/sweeper/pruner=none",
        "epochs=1",
    ) as study:
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4


def test_cmaes_needs_its_package(hydra_sweep_runner, tmp_path, capsys):
    args = ("hydra/sweeper/sampler=cmaes", "hydra.sweeper.n_trials=3", "hydra/sweeper/pruner=none", "epochs=1")
    if importlib.util.find_spec("cmaes") is None:
        with pytest.raises(SystemExit):  # the sweep's one message, as in a user's own app
            with _sweep(hydra_sweep_runner, tmp_path / "s", *args):
                pass
        assert "pip install cmaes" in capsys.readouterr().err
    else:
        with _sweep(hydra_sweep_runner, tmp_path / "s", *args) as study:
            assert len(study.trials) == 3


def test_grid_rejects_a_continuous_parameter(hydra_sweep_runner, tmp_path, capsys):
    with pytest.raises(SystemExit):  # the sweep's one message, as in a user's own app
        with _sweep(hydra_sweep_runner, tmp_path / "s", "hydra/sweeper/sampler=grid"):
            pass
    assert "'x' is continuous" in capsys.readouterr().err


@pytest.mark.parametrize(
    "pruner, extra",
    [
        ("median", ["hydra.sweeper.pruner.n_startup_trials=2"]),
        ("successive_halving", ["hydra.sweeper.pruner.min_resource=1", "hydra.sweeper.pruner.reduction_factor=2"]),
        ("hyperband", ["hydra.sweeper.pruner.max_resource=8", "hydra.sweeper.pruner.reduction_factor=2"]),
    ],
)
def test_pruners_prune_from_the_job(hydra_sweep_runner, tmp_path, pruner, extra):
    with _sweep(
        hydra_sweep_runner,
        tmp_path / "s",
        f"hydra/sweeper/pruner={pruner}",
        *extra,
        "epochs=8",
        "hydra.sweeper.n_trials=10",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler.seed=0",
    ) as study:
        states = [t.state for t in study.trials]
        target = study.user_attrs["lalm_pruner"]["_target_"]
    assert TrialState.PRUNED in states and TrialState.FAIL not in states
    assert target.endswith(
        {"median": "MedianPruner", "successive_halving": "SuccessiveHalvingPruner", "hyperband": "HyperbandPruner"}[
            pruner
        ]
    )


def _two_objectives(cfg):
    return cfg.x, (1 - cfg.x) ** 2


def test_multi_objective_directions(hydra_sweep_runner, tmp_path):
    with _sweep(
        hydra_sweep_runner,
        tmp_path / "s",
        "hydra/sweeper/sampler=nsgaii",
        "hydra.sweeper.n_trials=5",
        "hydra/sweeper/pruner=none",
        "hydra.sweeper.direction=[minimize,minimize]",
        task=_two_objectives,
    ) as study:
        assert len(study.directions) == 2 and all(t.state == TrialState.COMPLETE for t in study.trials)
        results = OmegaConf.load(tmp_path / "s" / "optimization_results.yaml")
    assert len(results.solutions) >= 1 and len(results.solutions[0]["values"]) == 2
