"""A job's identity is what it computes (issue 19 §2): a dir is resumed only by the same resolved
config on the same data; anything else is refused, with what changed and how to go on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.datasets import load_digits

from tests.core.fingerprint_data import write_split
from tests.helpers import REPO, run_cli

ENV = {"PYTHONPATH": str(REPO)}
DATASET = "_target_: tests.core.fingerprint_data.FileDigitsDataModule\nroot: data\nbatch_size: 50\n"


def _project(where: Path, start: int = 0, n: int = 200) -> Path:
    """A user's project dir: a dataset config and digits data of its own."""
    x, y = load_digits(return_X_y=True)
    write_split(where / "data", "train", x[start : start + n], y[start : start + n])
    write_split(where / "data", "val", x[1500:1560], y[1500:1560])
    (where / "conf" / "dataset").mkdir(parents=True)
    (where / "conf" / "dataset" / "files.yaml").write_text(DATASET)
    return where


def _train(cwd: Path, run: Path, *extra: str, env: dict[str, str] | None = None):
    args = ["--config-dir", "conf", "experiment=digits", "dataset=files", "trainer.max_epochs=1", "logger=none"]
    return run_cli("lalm-train", [*args, f"hydra.run.dir={run}", *extra], cwd, env={**ENV, **(env or {})})


def _attempts(run: Path) -> list[str]:
    return [a["status"] for a in json.loads((run / "run.json").read_text())["attempts"]]


@pytest.mark.slow
def test_an_env_var_that_points_at_other_data_is_another_job(tmp_path):
    """Found case: R3_ROOT=A, then R3_ROOT=B (other audio) silently resumed on other data."""
    a, b = _project(tmp_path / "a"), _project(tmp_path / "b", start=300)
    (tmp_path / "conf").symlink_to(a / "conf")
    run = tmp_path / "run"
    root = "dataset.root=${oc.env:R3_ROOT}"
    assert _train(tmp_path, run, root, env={"R3_ROOT": str(a / "data")}).returncode == 0
    other = _train(tmp_path, run, root, env={"R3_ROOT": str(b / "data")})
    assert other.returncode == 1 and "holds another job" in other.stderr, other.stderr[-2000:]
    assert "(changed: dataset.root: " in other.stderr and "b/data" in other.stderr, other.stderr
    assert _attempts(run) == ["completed"], "the refused run must not start an attempt"
    same = _train(tmp_path, run, root, env={"R3_ROOT": str(a / "data")})  # the same job: resumes
    assert same.returncode == 0, same.stderr[-2000:]
    assert _attempts(run) == ["completed", "completed"]


@pytest.mark.slow
def test_a_relative_data_path_from_another_project_dir_is_another_job(tmp_path):
    a, b = _project(tmp_path / "a"), _project(tmp_path / "b", start=300)
    run = tmp_path / "run"
    assert _train(a, run).returncode == 0
    other = _train(b, run)  # the same overrides; `root: data` now means b/data
    assert other.returncode == 1 and "holds another job" in other.stderr, other.stderr[-2000:]
    assert "paths.root_dir: " in other.stderr, other.stderr
    assert _attempts(run) == ["completed"]


@pytest.mark.slow
def test_the_same_config_on_changed_data_is_refused_before_resuming(tmp_path):
    """The config resolves the same, the files under it changed: the data fingerprint tells."""
    a = _project(tmp_path / "a")
    run = tmp_path / "run"
    assert _train(a, run).returncode == 0
    x, y = load_digits(return_X_y=True)
    write_split(tmp_path / "more", "train", x[600:650], y[600:650])
    for f in (tmp_path / "more" / "train").iterdir():
        f.rename(a / "data" / "train" / f"extra-{f.name}")
    other = _train(a, run)
    assert other.returncode == 1 and "trained on other data" in other.stderr, other.stderr[-2000:]
    assert "train.files: 200 -> 250" in other.stderr and len(other.stderr.splitlines()) <= 6
    assert _attempts(run) == ["completed", "failed"]
    record = json.loads((run / "run.json").read_text())
    assert "data" not in record["attempts"][-1], "a refused attempt records no data"


def test_what_an_attempt_drew_is_not_a_change_of_data(tmp_path):
    """A killed attempt records what it drew from each source; the rerun on the same data resumes."""
    from lalm_framework.errors import UserError
    from lalm_framework.job_dir import check_same_data

    source = {"source": "/d/train", "sha256": "ab", "weight": 3}
    killed = {"train": {"sources": [source | {"drawn_cuts": 24, "drawn_hours": 0.0067}]}}
    check_same_data(tmp_path, [{"data": killed}], {"train": {"sources": [source]}})
    with pytest.raises(UserError, match=r"trained on other data.*sha256"):
        check_same_data(tmp_path, [{"data": killed}], {"train": {"sources": [source | {"sha256": "cd"}]}})
