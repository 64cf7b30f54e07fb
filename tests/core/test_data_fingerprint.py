"""run.json records the datamodule's data fingerprint: two runs on different data are told apart."""

from __future__ import annotations

import json

import pytest
from sklearn.datasets import load_digits

from tests.core.fingerprint_data import write_split
from tests.helpers import REPO, run_cli


@pytest.mark.slow
def test_run_record_holds_the_data_fingerprint(tmp_path):
    x, y = load_digits(return_X_y=True)
    write_split(tmp_path / "data", "train", x[:200], y[:200])
    write_split(tmp_path / "data", "val", x[200:260], y[200:260])
    (tmp_path / "conf" / "dataset").mkdir(parents=True)
    (tmp_path / "conf" / "dataset" / "files.yaml").write_text(
        "_target_: tests.core.fingerprint_data.FileDigitsDataModule\nroot: ${paths.root_dir}/data\nbatch_size: 50\n"
    )
    args = ["--config-dir", "conf", "experiment=digits", "dataset=files", "trainer.max_epochs=1", "logger=none"]

    def fingerprint(run: str) -> dict:
        run_cli("lalm-train", [*args, f"hydra.run.dir={run}"], tmp_path, env={"PYTHONPATH": str(REPO)}, check=True)
        return json.loads((tmp_path / run / "run.json").read_text())["attempts"][-1]["data"]

    first = fingerprint("first")
    assert first["train"]["files"] == 200 and first["val"]["files"] == 60
    assert first["train"]["sources"] == [str(tmp_path / "data" / "train")]
    assert first["train"]["bytes"] == sum(f.stat().st_size for f in (tmp_path / "data" / "train").iterdir())
    (tmp_path / "data" / "train" / "00000.npz").unlink()
    second = fingerprint("second")
    assert second["val"] == first["val"]
    assert second["train"]["files"] == 199 and second["train"]["sha256"] != first["train"]["sha256"]


@pytest.mark.slow
def test_a_datamodule_without_fingerprint_records_the_paths_its_config_names(tmp_path):
    # seed 001's flow and the digits example: before, run.json held no data version at all
    x, y = load_digits(return_X_y=True)
    write_split(tmp_path / "data", "train", x[:100], y[:100])
    write_split(tmp_path / "data", "val", x[100:130], y[100:130])
    (tmp_path / "conf" / "dataset").mkdir(parents=True)
    (tmp_path / "conf" / "dataset" / "plain.yaml").write_text(
        "_target_: tests.core.fingerprint_data.PlainFileDigits\nroot: data\nbatch_size: 50\n"
    )
    args = ["--config-dir", "conf", "experiment=digits", "dataset=plain", "trainer.max_epochs=1", "logger=none"]
    env = {"PYTHONPATH": str(REPO)}
    run_cli("lalm-train", [*args, "hydra.run.dir=run"], tmp_path, env=env, check=True)
    data = json.loads((tmp_path / "run" / "run.json").read_text())["attempts"][-1]["data"]
    version = data["paths"]["dataset.root"]
    assert data["target"] == "tests.core.fingerprint_data.PlainFileDigits"
    assert version["path"] == str(tmp_path / "data") and version["files"] == 130 and version["kind"] == "folder"
    assert version["bytes"] == sum(f.stat().st_size for f in (tmp_path / "data").rglob("*.npz"))
    # other data under the same config: resuming the dir is refused, naming what changed
    write_split(tmp_path / "data", "extra", x[:3], y[:3])
    again = run_cli("lalm-train", [*args, "hydra.run.dir=run", "trainer.max_epochs=1"], tmp_path, env=env)
    assert again.returncode == 1 and "other data" in again.stderr and "dataset.root" in again.stderr, again.stderr
    # the digits example names no files: its record says so rather than nothing
    digits = ["experiment=digits", "trainer.max_epochs=1", "trainer.limit_train_batches=2", "logger=none"]
    run_cli("lalm-train", [*digits, "hydra.run.dir=digits"], tmp_path, check=True)
    data = json.loads((tmp_path / "digits" / "run.json").read_text())["attempts"][-1]["data"]
    assert data == {"kind": "config paths", "target": "lalm_framework.digits.data.DigitsDataModule", "paths": {}}
