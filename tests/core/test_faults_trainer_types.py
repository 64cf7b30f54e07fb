"""Trainer fields that Lightning reads as "int or float" keep the type the user typed (issue 11 #5).

`trainer.limit_train_batches=1` means one batch and `=1.0` all of them; the schema used to make
both 1.0. Each such field of `TrainerConfig` is composed with an int and a float, and handed to a
real Lightning Trainer, which must see the same value and type.
"""

from __future__ import annotations

import json

import pytest

from lalm_framework import compose
from tests.helpers import run_cli

# every Trainer argument whose Lightning type admits both int and float
INT_OR_FLOAT = [
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "limit_predict_batches",
    "overfit_batches",
    "val_check_interval",
    "gradient_clip_val",
]


def test_the_list_covers_every_int_or_float_argument_of_the_trainer():
    import inspect
    import typing

    import pytorch_lightning as pl

    both = {
        name
        for name, p in inspect.signature(pl.Trainer.__init__).parameters.items()
        if {int, float} <= set(typing.get_args(p.annotation))
    }
    assert both == set(INT_OR_FLOAT)


@pytest.mark.parametrize("field", INT_OR_FLOAT)
@pytest.mark.parametrize("value", [1, 1.0, 3, 0.25])
def test_int_or_float_fields_keep_the_type_typed(field, value):
    if field == "overfit_batches" and value == 3:
        value = 2
    cfg = compose(["experiment=digits", f"trainer.{field}={value}"])
    got = cfg.trainer[field]
    assert got == value and type(got) is type(value), (field, got)


@pytest.mark.parametrize("field", ["limit_train_batches", "limit_val_batches", "overfit_batches"])
def test_lightning_receives_the_typed_value(field):
    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    cfg = compose(["experiment=digits", f"trainer.{field}=1"])
    kwargs = OmegaConf.to_container(cfg.trainer, resolve=False)
    value = kwargs[field]
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, **{field: value})
    assert getattr(trainer, field) == 1 and type(getattr(trainer, field)) is int


def test_other_types_of_lightning_fields():
    cfg = compose(
        [
            "trainer.fast_dev_run=2",
            "trainer.deterministic=warn",
            "trainer.precision=16",
            "trainer.val_check_interval=0:1",
        ]
    )
    assert cfg.trainer.fast_dev_run == 2 and type(cfg.trainer.fast_dev_run) is int
    assert compose(["trainer.fast_dev_run=true"]).trainer.fast_dev_run is True
    assert cfg.trainer.deterministic == "warn" and cfg.trainer.precision == 16
    assert compose(["trainer.precision=bf16-mixed"]).trainer.precision == "bf16-mixed"
    assert cfg.trainer.val_check_interval == "0:1"


def test_limit_train_batches_1_trains_one_batch_per_epoch(tmp_path):
    run = tmp_path / "run"
    args = ["experiment=digits", "trainer.max_epochs=2", "trainer.limit_train_batches=1", "logger=none"]
    run_cli("lalm-train", [*args, f"hydra.run.dir={run}"], tmp_path, check=True)
    record = json.loads((run / "run.json").read_text())
    assert record["metrics"]["global_step"] == 2  # 1 batch x 2 epochs (it was 23 x 2)
