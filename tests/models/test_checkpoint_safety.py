"""Every path that loads a checkpoint reads it safely: weights only, short errors naming the file.

A crafted checkpoint whose pickle writes a marker file is refused by `read_checkpoint`, by
Lightning's loading through `AtomicCheckpointIO` (fit/resume, validate, test with ckpt_path), by
`lalm-train trainer.ckpt_path=...`, `lalm-infer` and `lalm-export`; the marker is never written.
Truncated, empty and foreign files, checkpoints of another size or kind get one short message.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from tiny_lalm import TINY_ENCODER, save_checkpoint, tiny_kwargs

from lalm_framework.errors import UserError
from lalm_framework.trainer_addons.checkpoint_io import AtomicCheckpointIO, read_checkpoint
from tests.helpers import run_cli

DEV = Path(__file__).resolve().parents[2] / "lalm_framework" / "samples" / "speech" / "dev"


class WritesMarker:
    """Unpickling this runs code: it writes `path` (what an attacker's payload would do)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (exec, (f"open({self.path!r}, 'w').write('pwned')",))


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    from lalm_framework.models.lalm_module import LalmModule

    torch.manual_seed(0)
    return save_checkpoint(LalmModule(**tiny_kwargs()), tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


@pytest.fixture(scope="module")
def digits_ckpt(tmp_path_factory):
    import pytorch_lightning as pl

    from lalm_framework.digits.data import DigitsDataModule
    from lalm_framework.digits.model import DigitsClassifier

    path = tmp_path_factory.mktemp("digits") / "digits.ckpt"
    trainer = _trainer(pl, max_steps=2)
    trainer.fit(DigitsClassifier(hidden=16, lr=1e-3), datamodule=DigitsDataModule(batch_size=64))
    trainer.save_checkpoint(path)
    return path


def _trainer(pl, **kw):
    return pl.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        plugins=[AtomicCheckpointIO()],
        **kw,
    )


def _evil_files(tmp: Path, real: Path) -> dict[str, tuple[Path, Path]]:
    """Malicious checkpoints -> (file, the marker its payload would write)."""
    out = {}
    marker = tmp / "zip.marker"
    torch.save({"state_dict": {}, "payload": WritesMarker(marker)}, tmp / "zip.ckpt")
    out["zip"] = (tmp / "zip.ckpt", marker)
    # a real checkpoint with the payload hidden in its hyperparameters
    marker = tmp / "inside.marker"
    ckpt = torch.load(real, weights_only=True)
    ckpt["hyper_parameters"]["note"] = WritesMarker(marker)
    torch.save(ckpt, tmp / "inside.ckpt")
    out["inside"] = (tmp / "inside.ckpt", marker)
    # an old-style (non-zip) pickle
    marker = tmp / "legacy.marker"
    (tmp / "legacy.ckpt").write_bytes(pickle.dumps({"state_dict": WritesMarker(marker)}))
    out["legacy"] = (tmp / "legacy.ckpt", marker)
    return out


@pytest.fixture
def evil(tmp_path, tiny_ckpt):
    return _evil_files(tmp_path, tiny_ckpt)


def test_the_crafted_checkpoints_do_run_code_when_loaded_unsafely(evil):
    # proves the fixtures are real attacks: the tests below would catch a loader that runs them
    for file, marker in evil.values():
        try:
            torch.load(file, weights_only=False)
        except RuntimeError:  # the old-style pickle: the payload ran before torch saw the bad header
            pass
        assert marker.is_file()
        marker.unlink()


@pytest.mark.parametrize("kind", ["zip", "inside", "legacy"])
def test_read_checkpoint_refuses_code_in_the_pickle(evil, kind):
    file, marker = evil[kind]
    with pytest.raises(UserError) as e:
        read_checkpoint(file)
    message = str(e.value)
    assert str(file) in message and len(message.splitlines()) <= 15
    assert ("Refused" in message and "builtins.exec" in message) or "not a PyTorch zip checkpoint" in message
    assert not marker.exists()


@pytest.mark.parametrize("stage", ["fit", "validate", "test"])
def test_lightning_loading_through_our_checkpoint_io_refuses_it(evil, digits_ckpt, stage):
    """Resume (fit) and evaluation with ckpt_path (validate/test) load through AtomicCheckpointIO."""
    import pytorch_lightning as pl

    from lalm_framework.digits.data import DigitsDataModule
    from lalm_framework.digits.model import DigitsClassifier

    for file, marker in evil.values():
        trainer = _trainer(pl, max_steps=4)
        with pytest.raises(UserError, match=str(file)):
            getattr(trainer, stage)(DigitsClassifier(hidden=16, lr=1e-3), DigitsDataModule(), ckpt_path=file)
        assert not marker.exists()
    # and our own checkpoints still load on every one of these paths
    getattr(_trainer(pl, max_steps=4), stage)(
        DigitsClassifier(hidden=16, lr=1e-3), DigitsDataModule(), ckpt_path=digits_ckpt
    )


def test_our_checkpoints_need_nothing_beyond_the_allow_list(tiny_ckpt, digits_ckpt):
    # the digits one was written after fitting: optimizer, scheduler-free loops and callback states
    for ckpt in (tiny_ckpt, digits_ckpt):
        assert torch.serialization.get_unsafe_globals_in_checkpoint(ckpt) == []
        assert read_checkpoint(ckpt)["state_dict"]


@pytest.mark.slow
def test_the_commands_refuse_it_with_a_short_message(evil, tmp_path):
    # every kind is refused by read_checkpoint (above); the commands are checked with the subtlest
    for file, marker in [evil["inside"]]:
        for cmd, args in (
            ("lalm-infer", [str(file), str(DEV), "--no-progress"]),
            ("lalm-export", [str(file), str(tmp_path / f"export_{file.stem}")]),
        ):
            proc = run_cli(cmd, args, cwd=tmp_path, timeout=180)
            assert proc.returncode == 1, proc.stderr[-2000:]
            assert str(file) in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
            assert len(proc.stderr.strip().splitlines()) <= 15
            assert not marker.exists()


def test_resume_from_a_crafted_checkpoint_is_refused(evil, tmp_path):
    file, marker = evil["inside"]
    proc = run_cli(
        "lalm-train",
        [f"trainer.ckpt_path={file}", "logger=none", f"hydra.run.dir={tmp_path / 'run'}", "trainer.max_epochs=1"],
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 1
    err = proc.stderr
    assert "Refused to load checkpoint" in err and str(file) in err and "Traceback" not in err, err[-3000:]
    assert len(err.strip().splitlines()) <= 15
    assert not marker.exists()


def _corrupt_files(tmp: Path, real: Path) -> dict[str, Path]:
    data = real.read_bytes()
    files = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "text": b"this is not a checkpoint\n",
    }
    out = {}
    for name, content in files.items():
        out[name] = tmp / f"{name}.ckpt"
        out[name].write_bytes(content)
    # a zip archive whose pickle was damaged in the middle
    bad = tmp / "damaged.ckpt"
    with zipfile.ZipFile(real) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            blob = src.read(item)
            dst.writestr(item, blob[: len(blob) // 3] if item.filename.endswith("data.pkl") else blob)
    out["damaged"] = bad
    no_weights = tmp / "no_weights.ckpt"
    torch.save({"epoch": 3}, no_weights)
    out["no_weights"] = no_weights
    return out


def test_corrupt_checkpoints_get_a_short_message(tmp_path, tiny_ckpt):
    reasons = {
        "truncated": "truncated or corrupt",
        "empty": "empty",
        "text": "not a PyTorch zip checkpoint",
        "damaged": "truncated or corrupt",
        "no_weights": "no Lightning checkpoint",
    }
    for name, file in _corrupt_files(tmp_path, tiny_ckpt).items():
        with pytest.raises(UserError) as e:
            read_checkpoint(file)
        assert str(file) in str(e.value) and reasons[name] in str(e.value), str(e.value)
        assert len(str(e.value).splitlines()) <= 15


def test_corrupt_checkpoint_in_lalm_infer_and_resume(tmp_path, tiny_ckpt):
    truncated = _corrupt_files(tmp_path, tiny_ckpt)["truncated"]
    proc = run_cli("lalm-infer", [str(truncated), str(DEV), "--no-progress"], cwd=tmp_path, timeout=180)
    assert proc.returncode == 1 and "truncated or corrupt" in proc.stderr and str(truncated) in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 15

    import pytorch_lightning as pl

    from lalm_framework.digits.data import DigitsDataModule
    from lalm_framework.digits.model import DigitsClassifier

    with pytest.raises(UserError, match="truncated or corrupt"):
        _trainer(pl, max_steps=2).fit(DigitsClassifier(hidden=16, lr=1e-3), DigitsDataModule(), ckpt_path=truncated)


def test_checkpoint_of_another_model_size_names_the_file_and_both_shapes(tmp_path, tiny_ckpt):
    """trainer.ckpt_path with a checkpoint of another size: one message, not 100 lines of size mismatch."""
    proc = run_cli(
        "lalm-train",
        [
            f"trainer.ckpt_path={tiny_ckpt}",  # model=tiny has d_model 96; the checkpoint's encoder 32
            "logger=none",
            f"hydra.run.dir={tmp_path / 'run'}",
            "trainer.max_epochs=1",
            "++dataset.max_utterances=4",
        ],
        cwd=tmp_path,
        timeout=300,
    )
    err = proc.stderr
    assert proc.returncode == 1 and "Traceback" not in err, err[-3000:]
    assert f"Checkpoint {tiny_ckpt} does not fit this model" in err and "[32, 80, 3] there but [96, 80, 3] here" in err
    assert len(err.strip().splitlines()) <= 15


def test_shape_mismatch_through_lightning_names_both_shapes(tmp_path, tiny_ckpt):
    import pytorch_lightning as pl

    from lalm_framework.data.datamodule import LalmDataModule
    from lalm_framework.models.lalm_module import LalmModule

    wider = LalmModule(**tiny_kwargs(encoder={"config": {**TINY_ENCODER, "d_model": 48}}))
    dm = LalmDataModule(root=None, train_split="train", val_split="dev", test_split=None, max_utterances=2)
    with pytest.raises(UserError) as e:
        _trainer(pl, max_steps=1).validate(wider, datamodule=dm, ckpt_path=tiny_ckpt)
    message = str(e.value)
    assert str(tiny_ckpt) in message and "does not fit this model" in message
    assert "[32, 80, 3] there but [48, 80, 3] here" in message  # encoder.conv1.weight
    assert len(message.splitlines()) <= 15


def test_resume_restores_the_saved_state_bit_for_bit(digits_ckpt):
    """Loading through our CheckpointIO restores weights, optimizer and loop state exactly."""
    import pytorch_lightning as pl

    from lalm_framework.digits.data import DigitsDataModule
    from lalm_framework.digits.model import DigitsClassifier

    saved = torch.load(digits_ckpt, weights_only=True)
    trainer = _trainer(pl, max_steps=saved["global_step"])  # resume, nothing left to train
    model = DigitsClassifier(hidden=16, lr=1e-3)
    trainer.fit(model, DigitsDataModule(batch_size=64), ckpt_path=digits_ckpt)
    assert trainer.global_step == saved["global_step"]
    for k, v in saved["state_dict"].items():
        assert torch.equal(model.state_dict()[k], v), k
    restored = trainer.optimizers[0].state_dict()["state"]
    for i, state in saved["optimizer_states"][0]["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(restored[i][name]), torch.as_tensor(value)), (i, name)


def test_lalm_infer_refuses_a_checkpoint_of_another_model_kind_before_building_anything(
    digits_ckpt, tmp_path, monkeypatch
):
    from lalm_framework.inference.trained_model import load_checkpoint_model
    from lalm_framework.models.lalm_module import LalmModule

    def never(*args, **kwargs):
        raise AssertionError("a model was built for a checkpoint of another kind")

    monkeypatch.setattr(LalmModule, "__init__", never)
    with pytest.raises(UserError) as e:
        load_checkpoint_model(digits_ckpt)
    assert "not a checkpoint of an audio LLM" in str(e.value) and "hidden, lr" in str(e.value)

    proc = run_cli("lalm-infer", [str(digits_ckpt), str(DEV), "--no-progress"], cwd=tmp_path, timeout=180)
    assert proc.returncode == 1 and "not a checkpoint of an audio LLM" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 15
