"""lalm_optuna options: defaults only in LalmOptunaSweeperConf (issue 9); bad values refused before a
study, a sweep dir or a job exists, with a short message naming the option and the fix (issue 11 #6, #7)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize
from hydra.core.config_store import ConfigStore
from hydra.utils import instantiate

from hydra_plugins.lalm_optuna.config import LalmOptunaSweeperConf, MedianPrunerConf, TPESamplerConf
from lalm_framework.errors import UserError
from lalm_framework.tuning.samplers import build_sampler, check_pruner
from lalm_framework.tuning.settings import SweepSettings
from lalm_framework.tuning.space import SearchSpace
from lalm_framework.tuning.storage import check_storage
from tests.helpers import run_cli

OWN = [
    f.name for f in dataclasses.fields(LalmOptunaSweeperConf) if f.name not in ("_target_", "_recursive_", "defaults")
]
TPE = dataclasses.asdict(TPESamplerConf())
MEDIAN = dataclasses.asdict(MedianPrunerConf())
DEFAULTS = {
    name: f.default
    for f in dataclasses.fields(LalmOptunaSweeperConf)
    if (name := f.name) in OWN and f.default is not dataclasses.MISSING
} | {"sampler": TPE, "pruner": MEDIAN}

BAD_SETTINGS = [
    ("n_jobs", 0, "hydra.sweeper.n_jobs=0: give an integer >= 1"),
    ("n_trials", -3, "hydra.sweeper.n_trials=-3: give an integer >= 0"),
    ("max_failure_rate", 1.5, "hydra.sweeper.max_failure_rate=1.5: give a fraction between 0 and 1"),
    ("max_failure_rate", -0.1, "max_failure_rate=-0.1"),
    ("direction", "maximise", "'maximise' is not a direction"),
    ("direction", ["minimize", "up"], "'up' is not a direction"),
    ("direction", [], "empty list"),
    ("study_name", "a/b", "cannot contain '/'"),
    ("study_name", "  ", "hydra.sweeper.study_name='  ': give a non-empty string"),
    ("storage", "", "hydra.sweeper.storage='': give a non-empty string, or null"),
    ("params", "lr=0.1", "hydra.sweeper.params='lr=0.1': give a mapping"),
    ("asynchronous", "yes", "hydra.sweeper.asynchronous='yes': give true or false"),
    ("workers", -1, "hydra.sweeper.workers=-1: give an integer >= 0"),
    ("heartbeat_interval", 0, "hydra.sweeper.heartbeat_interval=0: give a number of seconds > 0"),
    ("grace_period", "soon", "hydra.sweeper.grace_period='soon': give a number of seconds > 0"),
    ("sampler", dict(TPE, n_startup_trials=-1), "hydra.sweeper.sampler.n_startup_trials=-1: give a count >= 0"),
    ("sampler", dict(TPE, seed=-5), "hydra.sweeper.sampler.seed=-5"),
    ("pruner", dict(MEDIAN, n_warmup_steps=-1), "hydra.sweeper.pruner.n_warmup_steps=-1"),
]


@pytest.mark.parametrize("option, value, words", BAD_SETTINGS)
def test_bad_settings_name_the_option_and_the_fix(option: str, value: Any, words: str) -> None:
    with pytest.raises(UserError, match=None) as info:
        SweepSettings.from_options({**DEFAULTS, option: value})
    assert words in str(info.value)


def test_good_settings_are_normalised() -> None:
    s = SweepSettings.from_options({**DEFAULTS, "direction": ["min", "MAXIMIZE"], "study_name": " s1 "})
    assert s.direction == ("minimize", "maximize") and s.study_name == "s1" and s.sampler == TPE


BAD_COMPONENTS = [
    ("sampler", {"_target_": "optuna.samplers.NoSuchSampler"}, "cannot import 'optuna.samplers.NoSuchSampler'"),
    ("sampler", {"_target_": "optuna.pruners.MedianPruner"}, "is not an Optuna sampler"),
    ("sampler", {}, "names no class"),
    ("sampler", dict(TPE, patience=3), "TPESampler takes no argument 'patience'"),
    ("pruner", {"_target_": "optuna.samplers.TPESampler"}, "is not an Optuna pruner"),
    ("pruner", {"_target_": "optuna.pruners.PercentilePruner", "percentile": 150.0}, "between 0 and 100"),
    ("pruner", {"_target_": "optuna.pruners.MedianPruner", "patience": 3}, "MedianPruner takes no argument 'patience'"),
    # another class, the first one's options left in (issue 19 §5)
    (
        "sampler",
        dict(TPE, _target_="optuna.samplers.RandomSampler"),
        "RandomSampler takes no argument 'n_startup_trials'",
    ),
    # builds, then fails at its first decision: in every job, had it not been tried once here
    ("pruner", {"_target_": "optuna.pruners.HyperbandPruner", "reduction_factor": 1}, "cannot decide"),
]


@pytest.mark.parametrize("option, conf, words", BAD_COMPONENTS)
def test_unusable_samplers_and_pruners_are_user_errors(option: str, conf: dict[str, Any], words: str) -> None:
    with pytest.raises(UserError) as info:
        build_sampler(conf, SearchSpace()) if option == "sampler" else check_pruner(conf)
    assert words in str(info.value) and f"hydra.sweeper.{option}" in str(info.value)


@pytest.mark.parametrize(
    "url, words",
    [
        ("foo://host/db", "Can't load plugin: sqlalchemy.dialects:foo"),
        ("postgresql://user@host/db", "its database driver is not installed"),
    ],
)
def test_storage_urls_are_checked_without_connecting(url: str, words: str) -> None:
    with pytest.raises(UserError, match=words):
        check_storage(url)
    check_storage("sqlite:////tmp/any.db")


def test_settings_are_the_dataclass_itself_no_second_list_of_options() -> None:
    assert SweepSettings is LalmOptunaSweeperConf
    settings = SweepSettings.from_options(DEFAULTS)
    assert type(settings) is LalmOptunaSweeperConf and [f for f in OWN if not hasattr(settings, f)] == []


def test_changing_every_default_in_the_dataclass_changes_what_the_sweeper_gets() -> None:
    changed = {
        "direction": ["maximize"],
        "storage": "journal",
        "study_name": "changed",
        "n_trials": 7,
        "n_jobs": 3,
        "asynchronous": False,
        "workers": 3,
        "heartbeat_interval": 2.0,
        "grace_period": 9.0,
        "max_failure_rate": 0.1,
        "params": {"x": "interval(0, 1)"},
        "custom_search_space": "my.space",
        "plots": False,
    }
    assert set(changed) == set(OWN) - {"sampler", "pruner"} and all(changed[k] != DEFAULTS[k] for k in changed)
    patched = dataclasses.make_dataclass(
        "Patched",
        [(name, Any, dataclasses.field(default_factory=lambda v=value: v)) for name, value in changed.items()],
        bases=(LalmOptunaSweeperConf,),
    )
    ConfigStore.instance().store(group="hydra/sweeper", name="lalm_optuna_patched", node=patched, provider="test")
    with initialize(version_base="1.3", config_path=None):
        cfg = compose(overrides=["hydra/sweeper=lalm_optuna_patched"], return_hydra_config=True)
    sweeper = instantiate(cfg.hydra.sweeper)
    got = {k: v for k, v in dataclasses.asdict(sweeper.settings).items() if k in OWN}
    assert got == {**changed, "direction": ("maximize",), "sampler": TPE, "pruner": MEDIAN}


CHANGED_DEFAULT_APP = textwrap.dedent("""
    from dataclasses import dataclass
    import hydra
    from hydra.core.config_store import ConfigStore
    from hydra_plugins.lalm_optuna.config import LalmOptunaSweeperConf

    @dataclass
    class Changed(LalmOptunaSweeperConf):
        n_trials: int = 3
        n_jobs: int = 1
        plots: bool = False

    # another name: Hydra's plugin scan re-runs config.py, which stores the original as `lalm_optuna`
    ConfigStore.instance().store(group="hydra/sweeper", name="lalm_optuna_changed", node=Changed, provider="test")

    @hydra.main(version_base="1.3", config_path=None, config_name=None)
    def main(cfg):
        return float(cfg.x)

    if __name__ == "__main__":
        main()
""")


def test_a_changed_default_changes_the_behaviour(tmp_path: Path) -> None:
    import optuna

    app = tmp_path / "app.py"
    app.write_text(CHANGED_DEFAULT_APP)
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, str(app), "-m", f"hydra.sweep.dir={sweep}", "hydra/sweeper=lalm_optuna_changed"]
        + ["+x=interval(0, 1)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (summary,) = optuna.get_all_study_summaries(f"sqlite:///{sweep / 'optuna.db'}")
    assert summary.n_trials == 3 and not (sweep / "plots").exists()


# the command line a user types; each row must end in a short message before anything exists
SWEEP = ["-m", "experiment=digits", "hydra/sweeper=lalm_optuna", "lr=interval(1e-4, 1e-2)"]


@pytest.mark.parametrize(
    "overrides, words",
    [
        (["lr=tag(log, choice(1e-5, 1e-3))"], "a choice has no scale"),  # issue 11 #6
        (["hydra.sweeper.n_jobs=0"], "hydra.sweeper.n_jobs=0"),
        (["hydra.sweeper.direction=maximise"], "'maximise' is not a direction"),
        (["hydra.sweeper.storage=postgresql://user@host/db"], "database driver is not installed"),
        (["hydra.sweeper.sampler._target_=optuna.pruners.MedianPruner"], "is not an Optuna sampler"),
        (["hydra/sweeper/pruner=hyperband", "hydra.sweeper.pruner.reduction_factor=1"], "cannot decide"),
        (["hydra/launcher=lalm_pool", "hydra.launcher.max_retries=-1"], "hydra.launcher.max_retries=-1"),
        (["hydra.sweeper.workers=2"], "hydra.sweeper.workers=2 needs hydra/launcher=lalm_pool or a SLURM preset"),
        (
            ["hydra/launcher=lalm_pool", "hydra.sweeper.workers=2", "hydra.sweeper.grace_period=5"],
            "hydra.sweeper.grace_period=5 is under two heartbeats",
        ),
    ],
)
def test_bad_sweeper_options_stop_before_anything_exists(tmp_path: Path, overrides: list[str], words: str) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli("lalm-train", [*SWEEP, f"hydra.sweep.dir={sweep}", *overrides], tmp_path, timeout=120)
    assert proc.returncode == 1
    assert words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and len(proc.stderr.strip().splitlines()) <= 15
    assert not sweep.exists()  # no sweep dir, no study, no job


USER_APP = textwrap.dedent("""\
    from pathlib import Path

    import hydra

    @hydra.main(version_base="1.3", config_path=".", config_name="config")
    def main(cfg):
        Path(cfg.ran).touch()  # a trial ran
        return (cfg.x - 2) ** 2

    if __name__ == "__main__":
        main()
""")
USER_CONFIG = textwrap.dedent("""\
    defaults:
      - override hydra/sweeper: lalm_optuna
      - _self_
    x: 1.0
    ran: ${hydra:runtime.cwd}/ran
    hydra:
      sweeper:
        n_trials: 2
        params:
          x: interval(0, 4)
""")


@pytest.mark.parametrize(
    "overrides, words",
    [  # another class, the first one's options left in (issue 19 §5)
        (["hydra.sweeper.sampler._target_=optuna.samplers.RandomSampler"], ("n_startup_trials", "RandomSampler")),
        (
            ["hydra.sweeper.pruner._target_=optuna.pruners.SuccessiveHalvingPruner"],
            ("SuccessiveHalvingPruner", "n_startup_trials"),
        ),
    ],
)
def test_a_users_own_app_gets_one_message_for_an_option_of_another_class(
    tmp_path: Path, overrides: list[str], words: tuple[str, ...]
) -> None:
    (tmp_path / "app.py").write_text(USER_APP)
    (tmp_path / "config.yaml").write_text(USER_CONFIG)
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "app.py", "-m", f"hydra.sweep.dir={sweep}", *overrides],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    err = proc.stderr.strip()
    assert proc.returncode == 1, err[-3000:]
    assert "Traceback" not in proc.stdout + err and len(err.splitlines()) <= 5, err
    for word in (*words, "Remove it", "hydra/sweeper/"):
        assert word in err, err
    assert not sweep.exists() and not (tmp_path / "ran").exists()  # no study, no trial
