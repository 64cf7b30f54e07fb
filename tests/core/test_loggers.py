"""Experiment loggers get the whole resolved run config (secrets masked), per-epoch metrics and the
best checkpoint; read back through each library's own API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.core.wandb_records import read_run
from tests.helpers import run_cli

SECRET = "svc-secret-0123456789"
ARGS = [
    "experiment=digits",
    "trainer.max_epochs=2",
    "hydra.run.dir=run",
    "trainer.enable_progress_bar=false",
    "paths.data_dir=/data/${oc.env:MY_SERVICE_TOKEN}",  # a credential that reaches the config
]


def _train(tmp_path: Path, logger: str, env: dict[str, str]) -> dict:
    run_cli("lalm-train", [*ARGS, f"logger={logger}"], tmp_path, env={"MY_SERVICE_TOKEN": SECRET, **env}, check=True)
    return json.loads((tmp_path / "run" / "run.json").read_text())


@pytest.mark.slow
def test_mlflow_sqlite_store_holds_config_metrics_and_checkpoint(tmp_path):
    from mlflow import MlflowClient

    record = _train(tmp_path, "mlflow", {})  # before: MLflow 3 refused the ./mlruns file store
    client = MlflowClient(f"sqlite:///{tmp_path / 'run' / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "digits"]
    (run,) = client.search_runs([experiment.experiment_id])
    params = run.data.params
    assert params["trainer/max_epochs"] == "2" and params["model/hidden"] == "64" and params["lr"] == "0.003"
    assert params["dataset/_target_"] == "lalm_framework.digits.data.DigitsDataModule"
    assert SECRET not in json.dumps(params) and params["paths/data_dir"] == "/data/***"
    history = client.get_metric_history(run.info.run_id, "val/acc")
    assert len(history) == 2 and history[-1].value == pytest.approx(record["metrics"]["val/acc"])
    assert run.data.tags["best_checkpoint"] == record["attempts"][-1]["best_checkpoint"]
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlartifacts").exists()


@pytest.mark.slow
def test_wandb_offline_run_holds_config_metrics_and_checkpoint(tmp_path):
    record = _train(tmp_path, "wandb", {"WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    (run_file,) = (tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb")
    run = read_run(run_file)
    config = run["config"]  # the whole run config as a plain dict (before: only the model's arguments)
    assert config["trainer"]["max_epochs"] == 2 and config["model"]["hidden"] == 64
    assert config["dataset"]["_target_"] == "lalm_framework.digits.data.DigitsDataModule"
    assert config["paths"]["data_dir"] == "/data/***" and SECRET.encode() not in run_file.read_bytes()
    val_acc = [h["val/acc"] for h in run["history"] if "val/acc" in h]
    assert len(val_acc) == 2 and val_acc[-1] == pytest.approx(record["metrics"]["val/acc"])
    assert run["summary"]["best_checkpoint"] == record["attempts"][-1]["best_checkpoint"]
