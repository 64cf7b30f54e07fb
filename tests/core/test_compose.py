"""Config discovery, composition and the light CLI path."""

import subprocess
import sys

import pytest
from omegaconf import OmegaConf

import lalm_framework
from tests.helpers import cli_env, run_cli

pytestmark = pytest.mark.torchfree  # CI runs these on every Python, without torch


def test_compose_matches_cli_cfg_job(tmp_path):
    overrides = ["experiment=digits", "trainer.max_epochs=3", "lr=0.01"]
    cli = OmegaConf.create(run_cli("lalm-train", ["--cfg", "job", *overrides], tmp_path, check=True).stdout)
    api = OmegaConf.to_container(lalm_framework.compose(overrides=overrides))
    # the same config; outside Hydra the launch and output dirs are concrete (see test_notebook_api)
    for cfg in (cli, api):
        cfg["paths"]["root_dir"] = cfg["paths"]["output_dir"] = "(dir)"
    assert OmegaConf.to_yaml(cli) == OmegaConf.to_yaml(api)


def test_help_and_cfg_import_no_heavy_modules(tmp_path):
    probe = (
        "import sys\n"
        "from lalm_framework.cli.train import main\n"
        "for argv in (['lalm-train', '--help'], ['lalm-train', '--cfg', 'job'], ['lalm-train', '--info']):\n"
        "    sys.argv = argv\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('torch', 'pytorch_lightning', 'transformers', 'peft', 'optuna', 'submitit')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120
    )
    assert "HEAVY=\n" in out.stdout + "\n", out.stdout[-2000:] + out.stderr[-2000:]


def test_help_lists_groups(tmp_path):
    out = run_cli("lalm-train", ["--help"], tmp_path, check=True).stdout
    for group in ("model:", "dataset:", "trainer:", "logger:", "callbacks:", "experiment:", "debug:"):
        assert group in out


def test_shell_completion(tmp_path):
    install = run_cli("lalm-train", ["--shell-completion", "install=bash"], tmp_path, check=True).stdout
    assert "complete" in install and "lalm-train" in install
    groups = run_cli(
        "lalm-train", ["-sc", "query=bash"], tmp_path, env={"COMP_LINE": "lalm-train exp"}, check=True
    ).stdout
    assert "experiment=" in groups
    keys = run_cli(
        "lalm-train", ["-sc", "query=bash"], tmp_path, env={"COMP_LINE": "lalm-train trainer.max_e"}, check=True
    ).stdout
    assert "trainer.max_epochs=" in keys
