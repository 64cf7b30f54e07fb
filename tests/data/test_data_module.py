"""LalmDataModule inside a real Trainer with a tiny LALM: LibriSpeech layout, SpeechCraft-style
captions, model parts taken from the LightningModule, paths relative to the launch dir; a Shar
round trip with the same loss curve as the folder; training texts and the data fingerprint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from data_fixtures import TINY, sample_utterances, write_manifest
from omegaconf import OmegaConf

from lalm_framework.data.batch import IGNORE_INDEX
from lalm_framework.data.datamodule import LalmDataModule
from lalm_framework.data.shar import write_shar
from lalm_framework.errors import UserError


@pytest.fixture(scope="module")
def tiny_module():
    from lalm_framework.models.lalm_module import LalmModule

    return LalmModule(**TINY)


class LossCurve(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []
        self.ids: list[list[str]] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))
        self.ids.append(list(batch["ids"]))


def _fit(module, dm: LalmDataModule, steps: int = -1, epochs: int = 1) -> LossCurve:
    curve = LossCurve()
    trainer = pl.Trainer(
        max_steps=steps,
        max_epochs=epochs,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        callbacks=[curve],
    )
    trainer.fit(module, datamodule=dm)
    return curve


def test_librispeech_layout_trains_with_model_parts(librispeech_root: Path, tiny_module):
    dm = LalmDataModule(
        root=str(librispeech_root),
        train_split="train-clean-5",
        val_split="dev-clean-2",
        test_split=None,
        batch_size=3,
        num_buckets=2,
        num_workers=0,
    )
    curve = _fit(tiny_module, dm, steps=2)
    # the datamodule took the tokenizer / feature extractor from the LightningModule
    assert dm.tokenizer is tiny_module.tokenizer and dm.feature_extractor is tiny_module.feature_extractor
    assert dm.datasets["train"].size == 6 and dm.source("test") is None
    assert all(torch.isfinite(torch.tensor(curve.losses)))


def test_speechcraft_style_captioning_trains_a_step(tmp_path: Path, tiny_module, monkeypatch):
    captions = ["A man speaks quickly in a high voice.", "A woman speaks slowly and calmly."]
    rows = []
    (tmp_path / "data").mkdir()
    for i, (flac, _) in enumerate(sample_utterances("train", 4)):
        shutil.copy(flac, tmp_path / "data" / f"c{i}.flac")
        rows.append({"path": f"c{i}.flac", "description": captions[i % 2], "emotion": "Neutral"})
    (tmp_path / "data" / "sc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.chdir(tmp_path)  # relative manifest path: taken from the launch directory
    dm = LalmDataModule(
        train_manifest="data/sc.jsonl",
        val_manifest="data/sc.jsonl",
        text_key="description",
        task="caption",
        batch_size=2,
        num_workers=0,
        tokenizer=tiny_module.tokenizer,
        feature_extractor=tiny_module.feature_extractor,
    )
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    targets = batch["labels"][batch["labels"] != IGNORE_INDEX]
    decoded = tiny_module.tokenizer.decode(targets, skip_special_tokens=True).lower()
    assert "speaks" in decoded and "caption" not in decoded
    prompt = tiny_module.tokenizer.decode(batch["prompt_input_ids"][0], skip_special_tokens=True).lower()
    assert "describe" in prompt
    curve = _fit(tiny_module, dm, steps=1)
    assert torch.isfinite(torch.tensor(curve.losses)).all()


def test_shar_round_trip_gives_the_same_loss_curve(tmp_path: Path):
    """prepare -> train one epoch -> the same batches and losses as from the folder, same seed."""
    from lalm_framework.models.lalm_module import LalmModule

    def run(**source) -> LossCurve:
        pl.seed_everything(7)
        dm = LalmDataModule(max_duration=10.0, batch_size=None, max_utterances=48, num_workers=0, seed=7, **source)
        return _fit(LalmModule(**TINY), dm)

    folder = {"train_split": "train", "val_split": "dev", "test_split": None}
    write_shar(LalmDataModule(**folder), tmp_path / "shards", shard_size=100)
    from_folder = run(**folder)
    from_shar = run(path=str(tmp_path / "shards"), train_split="train", val_split="val", test_split=None)
    assert from_shar.ids == from_folder.ids and len(from_folder.ids) > 3
    assert from_shar.losses == pytest.approx(from_folder.losses, rel=1e-5)


def test_training_texts_of_every_source(tmp_path: Path, librispeech_root: Path):
    """What the tiny model trains its tokenizer on: the train split's targets, no audio read."""
    expected = [t for _, t in sample_utterances("train", 6)]
    manifest = write_manifest(tmp_path / "m", n=6)
    captions = tmp_path / "sc.jsonl"
    captions.write_text("".join(json.dumps({"audio": "x.flac", "description": f"voice {i}"}) + "\n" for i in range(3)))
    dm = LalmDataModule(train_manifest=str(manifest))
    dm.load_split("train").cuts.to_file(tmp_path / "cuts.jsonl.gz")
    write_shar(dm, tmp_path / "shards", splits=["train"])
    nodes = [
        ({"root": str(librispeech_root), "train_split": "train-clean-5"}, expected),
        ({"train_manifest": str(manifest)}, expected),
        ({"train_manifest": str(captions), "text_key": "description"}, [f"voice {i}" for i in range(3)]),
        ({"train_cuts": str(tmp_path / "cuts.jsonl.gz")}, expected),
        ({"path": str(tmp_path / "shards"), "train_split": "train"}, expected),
    ]
    for node, texts in nodes:
        assert LalmDataModule.training_texts(OmegaConf.create(node)) == texts, node
    sample = LalmDataModule.training_texts(OmegaConf.create({"train_split": "train"}))
    assert len(sample) == 380 and "TURN ON THE LIGHT" in sample


def test_data_fingerprint_tells_datasets_apart(tmp_path: Path):
    a = write_manifest(tmp_path / "a", n=4)
    fp = LalmDataModule(train_manifest=str(a), val_manifest=str(a)).data_fingerprint()
    train = fp["train"]
    assert train["source"] == str(a) and train["kind"] == "jsonl" and train["utterances"] == 4
    assert train["files"] == 5 and train["bytes"] == sum(p.stat().st_size for p in (tmp_path / "a").iterdir())
    assert "test" not in fp and fp["val"]["sha256"] == train["sha256"]
    # same files, one transcript changed: a different digest
    a.write_text(a.read_text().replace('"text": "', '"text": "x', 1))
    assert LalmDataModule(train_manifest=str(a)).data_fingerprint()["train"]["sha256"] != train["sha256"]
    sample = LalmDataModule(train_split="train", val_split="dev", test_split="test").data_fingerprint()
    assert [sample[s]["utterances"] for s in ("train", "val", "test")] == [380, 40, 40]


@pytest.mark.parametrize("cores, devices, expected", [(2, 1, 1), (1, 1, 0), (16, 2, 7), (4, 8, 0)])
def test_auto_workers_fit_the_machine(monkeypatch, cores, devices, expected):
    """Issue 10: dataset=jsonl asked for 4 workers on 2 cores; `auto` leaves one core per process."""
    import os

    from lalm_framework.data.loading import default_num_workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert default_num_workers(devices) == expected


def test_folder_and_manifest_sources_default_to_auto_workers(tokenizer, feature_extractor):
    from lalm_framework import compose
    from lalm_framework.data.loading import default_num_workers

    for option in ("jsonl", "speechcraft", "librispeech", "lhotse", "shar"):
        assert compose([f"dataset={option}", "paths.root_dir=/x", "paths.output_dir=/y"]).dataset.num_workers == "auto"
    dm = LalmDataModule(
        train_split="train", val_split=None, max_utterances=8, tokenizer=tokenizer, feature_extractor=feature_extractor
    )
    dm.setup("fit")
    assert dm.train_dataloader().num_workers == default_num_workers(1)


def test_overfit_batches_is_refused_with_the_alternative(tiny_module):
    trainer = pl.Trainer(overfit_batches=2, max_epochs=1, logger=False, enable_checkpointing=False, accelerator="cpu")
    dm = LalmDataModule(train_split="train", val_split="dev", test_split=None, max_utterances=16, num_workers=0)
    with pytest.raises(UserError, match="trainer.overfit_batches=2 does not work") as err:
        trainer.fit(tiny_module, datamodule=dm)
    assert "debug=overfit" in str(err.value) and len(str(err.value).splitlines()) <= 3
