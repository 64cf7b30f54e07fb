"""Value ranges where the declaration states them (never by argument name), and the W&B credentials
check, both before launch."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from lalm_framework.config.loggers import check_loggers
from lalm_framework.config.schema import TrainerConfig
from lalm_framework.config.signature import check_arguments
from lalm_framework.errors import UserError
from lalm_framework.utils.ranges import field_ranges

DATA = "lalm_framework.data.datamodule.LalmDataModule"
MODEL = "lalm_framework.models.lalm_module.LalmModule"


@pytest.mark.parametrize(
    ("target", "key", "value", "words"),
    [
        (DATA, "batch_size", 0, "must be a whole number >= 1 (or null)"),
        (DATA, "eval_batch_size", -2, "must be a whole number >= 1 (or null)"),
        (DATA, "num_workers", -1, "give a number of DataLoader workers"),
        (DATA, "max_duration", 0.0, "seconds of audio per batch, must be > 0 (or null)"),
        (DATA, "num_buckets", 0, "must be a whole number >= 1"),
        (DATA, "max_utterance_duration", 0, "must be greater than 0"),
        (MODEL, "lr", -1e-3, "must be 0 or more"),
        (MODEL, "warmup_steps", -1, "must be 0 or more"),
        ("lalm_framework.digits.data.DigitsDataModule", "batch_size", 0, "must be at least 1"),
    ],
)
def test_out_of_range_values_name_the_key_and_the_declared_range(
    target: str, key: str, value: float, words: str
) -> None:
    with pytest.raises(UserError) as e:
        check_arguments(OmegaConf.create({"_target_": target, key: value}), where="dataset")
    assert f"dataset.{key}={value}: {words}" in str(e.value)


def test_trainer_ranges_come_from_the_schema_fields() -> None:
    ranges = field_ranges(TrainerConfig)
    with pytest.raises(UserError, match=r"trainer.accumulate_grad_batches=0: must be at least 1"):
        ranges["accumulate_grad_batches"].check("trainer", "accumulate_grad_batches", 0)
    assert "max_epochs" not in ranges  # -1 means "no limit" to Lightning: no range declared


class UserData:
    """A user's class: `max_duration=-1` is its sentinel for "no limit", `batch_size=0` for "auto"."""

    def __init__(self, batch_size: int = 0, max_duration: float = -1, lr: float = -1.0, inner: object = None) -> None:
        self.batch_size, self.max_duration, self.lr, self.inner = batch_size, max_duration, lr, inner


def test_a_user_class_is_never_judged_by_its_argument_names() -> None:
    node = {"_target_": f"{__name__}.UserData", "batch_size": 0, "max_duration": -1, "lr": -1.0}
    check_arguments(OmegaConf.create(node), where="dataset")  # no range declared: none applied
    check_arguments(OmegaConf.create({"_target_": f"{__name__}.UserData", "inner": node}), where="dataset")


@pytest.mark.parametrize(
    ("key", "value"), [("batch_size", 1), ("num_workers", 0), ("num_workers", "auto"), ("seed", -1)]
)
def test_values_in_range_and_undeclared_arguments_pass(key: str, value: object) -> None:
    check_arguments(OmegaConf.create({"_target_": DATA, key: value}), where="dataset")


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
