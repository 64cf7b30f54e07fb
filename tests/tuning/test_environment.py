"""The resolved environment: Optuna >= 4, no hydra-optuna-sweeper; the plugin stays light at import."""

import importlib.metadata as md
import subprocess
import sys

import pytest
from packaging.version import Version


def test_optuna_is_4_or_newer():
    assert Version(md.version("optuna")) >= Version("4")


def test_hydra_optuna_sweeper_is_not_installed():
    with pytest.raises(md.PackageNotFoundError):
        md.distribution("hydra-optuna-sweeper")
    import hydra_plugins

    assert not any(
        p.name == "hydra_optuna_sweeper"
        for path in hydra_plugins.__path__
        for p in __import__("pathlib").Path(path).iterdir()
    )


def test_plugin_modules_import_no_optuna():
    # Hydra imports every module under hydra_plugins/ on start-up, `--help` included
    code = (
        "import sys, hydra_plugins.lalm_optuna.config, hydra_plugins.lalm_optuna.lalm_optuna_sweeper;"
        "print(sorted(m for m in ('optuna', 'torch', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
