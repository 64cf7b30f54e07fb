"""`lalm-doctor`: search path, groups with their sources, plugins, and collisions."""

import shutil

import pytest

from tests.helpers import REPO, run_cli

pytestmark = pytest.mark.torchfree  # CI runs these on every Python, without torch


def test_doctor_lists_ours_and_users_and_flags_collision(tmp_path):
    project = tmp_path / "proj"
    shutil.copytree(REPO / "examples" / "downstream_project", project)
    (project / "my_project" / "clash.py").write_text(
        "from dataclasses import dataclass\n"
        "from hydra.core.config_store import ConfigStore\n"
        "@dataclass\n"
        "class Clash:\n"
        "    _target_: str = 'x.Y'\n"
        "ConfigStore.instance().store(group='model', name='digits_mlp', node=Clash)\n"
    )
    clean = run_cli("lalm-doctor", ["--config-dir", "conf", "--import", "my_project.configs"], project, check=True)
    out = clean.stdout
    assert "pkg://lalm_framework.conf" in out and f"file://{project / 'conf'}" in out
    assert "my_model" in out and "noisy_digits" in out and "my_digits" in out  # the user's options
    assert "trainer:" in out and "logger:" in out  # ours
    assert "LalmSearchPathPlugin" in out
    assert "COLLISION" not in out
    planted = run_cli("lalm-doctor", ["--config-dir", "conf", "--import", "my_project.clash", "--strict"], project)
    assert planted.returncode == 1
    assert "COLLISION model/digits_mlp" in planted.stdout


def test_a_user_option_named_like_ours_wins_in_lalm_train_and_doctor_says_so(tmp_path):
    conf = tmp_path / "conf" / "model"
    conf.mkdir(parents=True)
    (conf / "tiny.yaml").write_text("_target_: lalm_framework.digits.model.DigitsClassifier\nhidden: 7\nlr: ${lr}\n")
    composed = run_cli(
        "lalm-train", ["--config-dir", "conf", "experiment=digits", "model=tiny", "--cfg", "job"], tmp_path
    )
    assert "hidden: 7" in composed.stdout, composed.stderr  # before: ours (the tiny LALM) won
    doctor = run_cli("lalm-doctor", ["--config-dir", "conf"], tmp_path, check=True).stdout
    line = next(ln for ln in doctor.splitlines() if "COLLISION model/tiny" in ln)
    assert line.index(f"file://{tmp_path / 'conf'}") < line.index("wins over") < line.index("pkg://lalm_framework.conf")
