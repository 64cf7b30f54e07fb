"""LalmDataModule inside a real Trainer with the tiny LALM: LibriSpeech layout, SpeechCraft-style
captions, bucketing, parts taken from the LightningModule, paths relative to the launch dir."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from data_fixtures import sample_utterances

from lalm_framework.data.batch import IGNORE_INDEX
from lalm_framework.data.datamodule import LalmDataModule

TINY = dict(
    encoder={
        "config": {
            "d_model": 32,
            "encoder_layers": 1,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "num_mel_bins": 80,
            "max_source_positions": 250,
        }
    },
    projector={"kind": "mlp", "stack": 4},
    llm={
        "config": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "max_position_embeddings": 256,
        }
    },
    tokenizer={"vocab_size": 200},
    generation={"max_new_tokens": 4},
    lr=3e-3,
)


@pytest.fixture(scope="module")
def tiny_module():
    from lalm_framework.models.lalm_module import LalmModule

    return LalmModule(**TINY)


def _fit_steps(module, dm: LalmDataModule, steps: int = 2) -> float:
    trainer = pl.Trainer(
        max_steps=steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, datamodule=dm)
    return float(trainer.callback_metrics.get("train/loss", torch.tensor(float("nan"))))


def test_librispeech_layout_trains_with_model_parts(librispeech_root: Path, tiny_module):
    dm = LalmDataModule(
        root=str(librispeech_root),
        train_split="train-clean-5",
        val_split="dev-clean-2",
        test_split=None,
        batch_size=3,
        bucketing=True,
        num_buckets=2,
    )
    loss = _fit_steps(tiny_module, dm)
    # the datamodule took the tokenizer / feature extractor from the LightningModule
    assert dm.tokenizer is tiny_module.tokenizer and dm.feature_extractor is tiny_module.feature_extractor
    assert len(dm.datasets["train"]) == 6 and dm.source("test") is None
    assert torch.isfinite(torch.tensor(loss))


def test_speechcraft_style_captioning_trains_a_step(tmp_path: Path, tiny_module, monkeypatch):
    captions = ["A man speaks quickly in a high voice.", "A woman speaks slowly and calmly."]
    rows = []
    for i, (flac, _) in enumerate(sample_utterances("train", 4)):
        shutil.copy(flac, tmp_path / f"c{i}.flac")
        rows.append({"path": f"c{i}.flac", "description": captions[i % 2], "emotion": "Neutral"})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for r in rows:
        shutil.move(tmp_path / r["path"], tmp_path / "data" / r["path"])
    monkeypatch.chdir(tmp_path)  # relative manifest path: taken from the launch directory
    dm = LalmDataModule(
        train_manifest="data/sc.jsonl",
        val_manifest="data/sc.jsonl",
        text_key="description",
        task="caption",
        batch_size=2,
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
    loss = _fit_steps(tiny_module, dm, steps=1)
    assert torch.isfinite(torch.tensor(loss))
