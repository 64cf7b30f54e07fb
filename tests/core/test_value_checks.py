"""Value ranges by argument name and the W&B credentials check, both before launch."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from lalm_framework.config.loggers import check_loggers
from lalm_framework.config.ranges import check_range
from lalm_framework.errors import UserError


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("batch_size", 0),
        ("eval_batch_size", -2),
        ("num_workers", -1),
        ("max_duration", 0.0),
        ("lr", -1e-3),
        ("accumulate_grad_batches", 0),
        ("num_buckets", 0),
    ],
)
def test_out_of_range_values_name_the_key_and_the_range(key: str, value: float) -> None:
    with pytest.raises(UserError) as e:
        check_range("dataset", key, value)
    assert f"dataset.{key}={value}" in str(e.value) and "must be" in str(e.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [("batch_size", 1), ("num_workers", 0), ("num_workers", "auto"), ("lr", 0.0), ("max_duration", 0.5), ("seed", -1)],
)
def test_values_in_range_and_other_names_pass(key: str, value: object) -> None:
    check_range("dataset", key, value)


WANDB = {"wandb": {"_target_": "pytorch_lightning.loggers.WandbLogger", "project": "p", "offline": False}}


def _no_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))


def test_wandb_online_without_a_key_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_key(monkeypatch, tmp_path)
    with pytest.raises(UserError, match="WANDB_API_KEY") as e:
        check_loggers(OmegaConf.create(WANDB))
    assert "logger.wandb.offline=true" in str(e.value)


def test_wandb_logged_in_or_offline_and_other_loggers_pass(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_key(monkeypatch, tmp_path)
    check_loggers(OmegaConf.create({**WANDB, "wandb": {**WANDB["wandb"], "offline": True}}))
    check_loggers(OmegaConf.create({"csv": {"_target_": "pytorch_lightning.loggers.CSVLogger", "save_dir": "."}}))
    monkeypatch.setenv("WANDB_MODE", "offline")
    check_loggers(OmegaConf.create(WANDB))
    monkeypatch.delenv("WANDB_MODE")
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password 0123456789abcdef\n")
    (tmp_path / "netrc").chmod(0o600)
    check_loggers(OmegaConf.create(WANDB))
