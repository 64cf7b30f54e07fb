"""`lalm-doctor`: search path, groups with their sources, plugins, and collisions."""

import shutil

from tests.helpers import REPO, run_cli


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
