"""The downstream example, from a built wheel and from an editable install, each in a fresh venv.

The fresh venvs hold only lalm-framework itself (wheel or editable); its dependencies come from
the test environment's site-packages through a .pth layer, so each venv takes seconds, not a
1.2 GB install. What is tested is ours: the wheel's contents (configs, plugins, entry points)
and Hydra's discovery of the `hydra_plugins` namespace package under both install modes.
"""

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers import REPO, cli_env

pytestmark = pytest.mark.wheel


def _checked(cmd) -> None:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


def _fresh_venv(root: Path) -> Path:
    _checked([sys.executable, "-m", "venv", root])
    site = next(root.glob("lib/python*/site-packages"))
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root / "bin"


def _run(bin_dir: Path, args, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(bin_dir / args[0]), *args[1:]], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def _exercise(bin_dir: Path, project: Path, expect_under: Path) -> None:
    where = _run(
        bin_dir,
        [
            "python",
            "-c",
            "import lalm_framework, hydra_plugins.lalm_searchpath as p;"
            "print(lalm_framework.__file__); print(p.__path__[0])",
        ],
        project,
    )
    for line in where.stdout.split():
        assert Path(line).resolve().is_relative_to(expect_under.resolve()), where.stdout
    # (a) our command, the user's config dir: model=my_model inherits digits_mlp, overrides hidden
    _run(
        bin_dir,
        [
            "lalm-train",
            "--config-dir",
            "./conf",
            "experiment=digits",
            "model=my_model",
            "dataset=noisy_digits",
            "trainer.max_epochs=1",
            "hydra.run.dir=out_a",
        ],
        project,
    )
    rec = json.loads((project / "out_a" / "run.json").read_text())
    assert rec["config"]["model"]["hidden"] == 32
    assert rec["config"]["model"]["_target_"].endswith("DigitsClassifier")
    assert rec["config"]["dataset"]["_target_"] == "my_project.data.NoisyDigitsDataModule"
    assert rec["attempts"][-1]["status"] == "completed"
    # (b) the user's own @hydra.main app: our `train` + their dataclass option
    _run(bin_dir, ["python", "train_app.py", "hydra.run.dir=out_b"], project)
    rec = json.loads((project / "out_b" / "run.json").read_text())
    assert rec["config"]["dataset"]["_target_"] == "my_project.data.NoisyDigitsDataModule"
    assert rec["config"]["dataset"]["noise"] == 0.1 and rec["config"]["task_name"] == "my_project"
    assert rec["metrics"]["global_step"] > 0


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "downstream"
    shutil.copytree(REPO / "examples" / "downstream_project", project)
    return project


@pytest.mark.slow
def test_wheel_in_fresh_venv(tmp_path):
    dist = tmp_path / "dist"
    _checked([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, REPO])
    wheel = next(dist.glob("lalm_framework-*.whl"))
    names = subprocess.run([sys.executable, "-m", "zipfile", "-l", str(wheel)], capture_output=True, text=True).stdout
    assert "lalm_framework/conf/train.yaml" in names
    assert "lalm_framework/py.typed" in names  # downstream mypy reads our types
    assert "hydra_plugins/__init__.py" not in names  # namespace package
    venv = tmp_path / "venv"
    bin_dir = _fresh_venv(venv)
    _checked([bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", wheel])
    _exercise(bin_dir, _project(tmp_path), venv)


@pytest.mark.slow
def test_editable_in_fresh_venv(tmp_path):
    bin_dir = _fresh_venv(tmp_path / "venv")
    _checked([bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", REPO])
    _exercise(bin_dir, _project(tmp_path), REPO)
