"""lalm_pool options: defaults only in LalmPoolLauncherConf (issue 9); bad values refused before any job
starts, with a short message naming the option and the fix (issue 11 #7)."""

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

from hydra_plugins.lalm_pool.config import LalmPoolLauncherConf
from lalm_framework.errors import UserError
from lalm_framework.launching.pool.settings import PoolSettings
from tests.helpers import cli_env
from tests.launching.pool_app import APP

DEFAULTS = {
    f.name: f.default_factory() if f.default is dataclasses.MISSING else f.default
    for f in dataclasses.fields(LalmPoolLauncherConf)
    if f.name != "_target_"
}

# option -> value -> words the message must contain (each row: one mistake)
BAD_OPTIONS = [
    ("max_retries", -1, "max_retries=-1: give an integer >= 0"),
    ("n_jobs", 0, "n_jobs=0: give an integer >= 1 or null"),
    ("n_jobs", -2, "n_jobs=-2"),
    ("jobs_per_gpu", 0, "jobs_per_gpu=0: give an integer >= 1"),
    ("gpus_per_job", -1, "gpus_per_job=-1: give an integer >= 0"),
    ("threads_per_job", 0, "threads_per_job=0: give an integer >= 1 or null"),
    ("kill_grace_s", -1.0, "kill_grace_s=-1.0: give a number of seconds >= 0"),
    ("kill_grace_s", float("nan"), "kill_grace_s=nan"),
    ("gpus", "all", "'all' is not a GPU id. Use auto, null (no GPUs), or a list"),
    ("gpus", "0,x", "'x' is not a GPU id"),
    ("gpus", [0, 0], "lists ['0'] more than once"),
    ("gpus", [-1], "-1 is not a GPU id"),
    ("gpus", [True], "True is not a GPU id"),
    ("gpus", 1.5, "is not a GPU list"),
    ("status_line", "yes", "status_line='yes': give true or false"),
    ("preload", ["no_such_module_x"], "preload: no module named 'no_such_module_x' here"),
    ("preload", ["torch; rm"], "is not a module name"),
]


@pytest.mark.parametrize("option, value, words", BAD_OPTIONS)
def test_bad_option_values_name_the_option_and_the_fix(option: str, value: Any, words: str) -> None:
    with pytest.raises(UserError) as info:
        PoolSettings.from_options({**DEFAULTS, option: value})
    assert words in str(info.value) and f"hydra.launcher.{option}" in str(info.value)


def test_settings_are_the_dataclass_itself_no_second_list_of_options() -> None:
    assert PoolSettings is LalmPoolLauncherConf
    typed = {**DEFAULTS, "gpus": "auto", "preload": ("torch", "pytorch_lightning")}
    assert PoolSettings.from_options(DEFAULTS) == LalmPoolLauncherConf(**typed)


def test_changing_every_default_in_the_dataclass_changes_what_the_launcher_gets() -> None:
    # a different value for every field: the plugin Hydra builds must see each of them
    changed = {
        "n_jobs": 3,
        "gpus": [5, 6],
        "gpus_per_job": 2,
        "jobs_per_gpu": 2,
        "threads_per_job": 4,
        "max_retries": 2,
        "kill_grace_s": 1.5,
        "status_line": False,
        "preload": ["json"],
    }
    assert set(changed) == set(DEFAULTS) and all(changed[k] != DEFAULTS[k] for k in changed)
    patched = dataclasses.make_dataclass(
        "Patched",
        [(name, Any, dataclasses.field(default_factory=lambda v=value: v)) for name, value in changed.items()],
        bases=(LalmPoolLauncherConf,),
    )
    store = ConfigStore.instance()
    store.store(group="hydra/launcher", name="lalm_pool_patched", node=patched, provider="test")
    with initialize(version_base="1.3", config_path=None):
        cfg = compose(overrides=["hydra/launcher=lalm_pool_patched"], return_hydra_config=True)
    launcher = instantiate(cfg.hydra.launcher)
    expected = {**changed, "gpus": ("5", "6"), "preload": ("json",)}
    assert {k: v for k, v in dataclasses.asdict(launcher.settings).items() if k != "_target_"} == expected


CHANGED_DEFAULT_APP = textwrap.dedent("""
    from dataclasses import dataclass, field
    from typing import Any
    from hydra.core.config_store import ConfigStore
    from hydra_plugins.lalm_pool.config import LalmPoolLauncherConf

    @dataclass
    class Changed(LalmPoolLauncherConf):  # the defaults a user of a fork of the plugin would edit
        max_retries: int = 1
        gpus: Any = None
        status_line: bool = False
        preload: list = field(default_factory=list)

    # another name: Hydra's plugin scan re-runs config.py, which stores the original as `lalm_pool`
    ConfigStore.instance().store(group="hydra/launcher", name="lalm_pool_changed", node=Changed, provider="test")
""")


def test_a_changed_default_changes_the_behaviour(tmp_path: Path) -> None:
    # the flaky job fails once: it completes only because the dataclass now says max_retries=1
    app = tmp_path / "app.py"
    app.write_text(CHANGED_DEFAULT_APP + APP)
    proc = subprocess.run(
        [sys.executable, str(app), "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra/launcher=lalm_pool_changed"]
        + ["+x=1", "+flaky=[1]"],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "COMPLETED (2 tries)" in proc.stderr and "[lalm_pool] running" not in proc.stderr


@pytest.mark.parametrize(
    "overrides, words",
    [
        (["hydra.launcher.max_retries=-1"], "hydra.launcher.max_retries=-1: give an integer >= 0"),
        (["hydra.launcher.gpus=all"], "hydra.launcher.gpus='all': 'all' is not a GPU id"),
        (["hydra.launcher.n_jobs=0"], "hydra.launcher.n_jobs=0"),
    ],
)
def test_bad_options_stop_the_sweep_before_any_job(pool_app, tmp_path: Path, overrides: list[str], words: str) -> None:
    proc = pool_app(["+x=1,2", *overrides])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert words in err and "Traceback" not in out + err and len(err.strip().splitlines()) <= 15
    assert not (tmp_path / "sweep").exists()  # nothing started, not even the sweep dir
