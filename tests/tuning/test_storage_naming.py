"""Storage specs, stable study names and the stable sweep dir that makes a rerun resume."""

from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir

from lalm_framework.errors import UserError
from lalm_framework.tuning.naming import default_study_name, stable_sweep_dir
from lalm_framework.tuning.storage import open_storage, storage_url

CONF = str(Path(__file__).resolve().parents[2] / "examples" / "optuna_curves" / "conf")


def test_storage_specs(tmp_path):
    assert storage_url(None, tmp_path) == f"sqlite:///{tmp_path}/optuna.db"
    assert storage_url("journal", tmp_path) == f"journal://{tmp_path}/optuna.journal"
    assert storage_url("postgresql://u@h/db", tmp_path) == "postgresql://u@h/db"
    assert storage_url("sqlite:///rel.db", tmp_path) == f"sqlite:///{Path('rel.db').absolute()}"
    with pytest.raises(UserError, match="not a storage URL"):
        storage_url("my.db", tmp_path)


@pytest.mark.parametrize("spec", [None, "journal"])
def test_storage_holds_a_study_across_opens(tmp_path, spec):
    url = storage_url(spec, tmp_path)
    study = optuna.create_study(storage=open_storage(url), study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    again = optuna.load_study(study_name="s", storage=open_storage(url))
    assert len(again.trials) == 2


def _cfg(*overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("curves", overrides=list(overrides), return_hydra_config=True)


def test_study_name_is_stable_and_names_the_fixed_overrides():
    cfg = _cfg()
    cfg.hydra.job.name = "app"
    assert default_study_name(cfg, []).startswith("app-")  # the hex of the composed config
    a = default_study_name(cfg, ["epochs=3"])
    assert a == default_study_name(cfg, ["epochs=3"]) != default_study_name(cfg, ["epochs=4"])
    assert a.startswith("app-")


def test_time_stamped_sweep_dir_becomes_stable_per_study():
    cfg = _cfg("hydra.sweep.dir=runs/${now:%H-%M-%S}")
    assert stable_sweep_dir(cfg, "s1") is None  # set on the command line: the user's choice stands
    cfg = _cfg()
    cfg.hydra.sweep.dir = "multirun/${hydra.job.name}/${now:%Y-%m-%d}/${now:%H-%M-%S}"
    cfg.hydra.job.name = "app"
    assert stable_sweep_dir(cfg, "s1") == "multirun/app/optuna/s1"
