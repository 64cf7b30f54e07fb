"""`describe`: every Hydra/OmegaConf mistake becomes a short message that names it (in-process, fast).

The command-line view of the same cases is the table in test_bad_inputs.py; here many more inputs
go through the real composition, and each message must be short and name the offending part.
"""

from __future__ import annotations

import errno

import pytest
from omegaconf import OmegaConf

from lalm_framework import compose
from lalm_framework.config.devices import gpus_needed
from lalm_framework.errors import MAX_LINES, describe


def _error_of(overrides: list[str]) -> BaseException:
    """The error composing `overrides` raises, or resolving the overridden key (as the job would)."""
    with pytest.raises(Exception) as info:
        cfg = compose(["experiment=digits", *overrides])
        for override in overrides:
            key = override.split("=", 1)[0].lstrip("+~")
            node = OmegaConf.select(cfg, key, throw_on_resolution_failure=True, throw_on_missing=True)
            OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    return info.value


@pytest.mark.parametrize(
    "overrides,words",
    [
        (["trainer.max_epoch=3"], ["max_epochs", "Did you mean"]),
        (["lrr=0.1"], ["'lr'", "Did you mean"]),
        (["trainer.max_epochs=abc"], ["trainer.max_epochs"]),
        (["model=digits_mpl"], ["digits_mlp"]),
        (["lr=${no_such.key}"], ["'lr'", "no_such.key"]),
        (["+foo=${oc.env:LALM_UNSET_XYZ}"], ["LALM_UNSET_XYZ", "${oc.env:LALM_UNSET_XYZ,default}"]),
        (["lr=${no_such"], ["lr=${no_such", "'${' is not closed"]),
        (["+foo=[1,2"], ["+foo=[1,2", "'[' is not closed"]),
        (["+foo={a:1"], ["+foo={a:1", "not closed"]),
        (["+foo=(1,2"], ["+foo=(1,2"]),
        (["+foo='abc"], ["+foo='abc", "quote"]),
        (["+foo=${oops:1}"], ["'foo'", "oops"]),
        (["+foo=${a.b"], ["+foo=${a.b"]),
        (["trainer.limit_train_batches=abc"], ["trainer.limit_train_batches"]),
        (["trainer.max_epochs"], ["'trainer.max_epochs'", "key=value"]),
        (["~nonexistent"], ["nonexistent"]),
        (["+trainer.max_epochs=3"], ["trainer.max_epochs"]),
        (["trainer=nope"], ["trainer", "cpu"]),
        (["hydra/launcher=nope"], ["hydra/launcher", "joblib"]),
        (["mode=sideways"], ["mode"]),
        (["trainer.max_epochs=???"], ["trainer.max_epochs"]),
        (["lr=${trainer}"], ["lr"]),
    ],
)
def test_composition_errors_are_short_and_named(overrides, words):
    message = describe(_error_of(overrides))
    assert message is not None
    assert len(message.splitlines()) <= MAX_LINES, message
    assert "Traceback" not in message
    for word in words:
        assert word in message, message


def test_unknown_composition_errors_are_shortened():
    from hydra.errors import ConfigCompositionException

    long = ConfigCompositionException("\n".join(f"line {i} of a very long Hydra message" for i in range(80)))
    long.__cause__ = ValueError("the cause")
    message = describe(long)
    assert message is not None and len(message.splitlines()) <= MAX_LINES and "the cause" in message
    assert describe(ValueError("a real crash")) is None  # crashes keep their traceback


def test_config_errors_raised_inside_a_job_are_short_and_named():
    cfg = OmegaConf.create({"trainer": {"max_epochs": 3}})
    OmegaConf.set_struct(cfg, True)
    with pytest.raises(Exception) as info:
        _ = cfg.trainer.max_epoch
    message = describe(info.value)
    assert message is not None and "trainer.max_epoch" in message and len(message.splitlines()) <= MAX_LINES
    assert "Did you mean 'max_epochs'" in message


def test_disk_and_permission_errors_found_anywhere_in_the_chain():
    full = OSError(errno.ENOSPC, "No space left on device")
    wrapped = RuntimeError("[enforce fail at inline_container.cc] unexpected pos 619456 vs 619348")
    wrapped.__context__ = full  # how torch.save reports a full disk
    assert "no space left" in (describe(wrapped) or "")
    denied = PermissionError(errno.EACCES, "Permission denied", "/data/run/train.log")
    assert "/data/run/train.log" in (describe(denied) or "") and "hydra.run.dir" in (describe(denied) or "")
    assert describe(FileNotFoundError(errno.ENOENT, "No such file", "x")) is None  # not ours to guess


@pytest.mark.parametrize(
    "trainer,needed",
    [
        ({"accelerator": "gpu", "devices": 1}, 1),
        ({"accelerator": "GPU", "devices": 1}, 1),
        ({"accelerator": "cuda", "devices": "auto"}, 1),
        ({"accelerator": "gpu", "devices": -1}, 1),
        ({"accelerator": "gpu", "devices": 2, "strategy": "ddp"}, 2),
        ({"accelerator": "gpu", "devices": [0, 3]}, 2),
        ({"accelerator": "gpu", "devices": "0,1,2"}, 3),
        ({"accelerator": "gpu", "devices": "4"}, 4),
        ({"accelerator": "auto", "devices": 2, "strategy": "fsdp"}, None),  # FSDP runs over gloo on CPUs
        ({"accelerator": "gpu", "devices": 2, "strategy": "fsdp"}, 2),
        ({"accelerator": "auto", "strategy": "deepspeed_stage_2"}, 1),
        ({"accelerator": "auto", "devices": 2, "strategy": "ddp"}, None),  # DDP on CPU processes works
        ({"accelerator": "cpu", "devices": 2, "strategy": "ddp"}, None),
        ({"accelerator": "cpu", "precision": "bf16-mixed"}, None),
        ({"accelerator": "mps"}, None),
    ],
)
def test_every_spelling_that_needs_a_gpu(trainer, needed):
    assert gpus_needed(trainer) == needed


def test_gpu_check_names_the_fix_when_none_is_visible(monkeypatch):
    import torch

    from lalm_framework.config.devices import check_gpus
    from lalm_framework.errors import UserError

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    if torch.cuda.device_count():
        pytest.skip("a GPU is visible despite CUDA_VISIBLE_DEVICES=''")
    with pytest.raises(UserError, match="no GPU is visible") as err:
        check_gpus({"accelerator": "gpu", "devices": 1})
    assert "trainer=cpu" in str(err.value) and "CUDA_VISIBLE_DEVICES=''" in str(err.value)
    check_gpus({"accelerator": "cpu", "devices": 4})  # no GPU needed: no error
