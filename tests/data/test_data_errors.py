"""Bad data fails early with one short message naming the file and the fix."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from data_fixtures import sample_utterances
from omegaconf import OmegaConf

from lalm_framework.data.datamodule import LalmDataModule
from lalm_framework.errors import UserError


def _manifest(tmp_path: Path, n: int = 6) -> tuple[Path, list[Path]]:
    rows, files = [], []
    for i, (flac, text) in enumerate(sample_utterances("train", n)):
        dst = tmp_path / f"u{i}.flac"
        shutil.copy(flac, dst)
        files.append(dst)
        rows.append({"audio": dst.name, "text": text})
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, files


def _break(files: list[Path]) -> None:
    files[1].write_bytes(b"fLaC" + bytes(range(256)) * 8)  # garbage after the magic
    files[3].write_bytes(files[3].read_bytes()[: files[3].stat().st_size // 3])  # truncated copy
    files[4].unlink()  # missing


def _module(manifest: Path, tokenizer, feature_extractor, **kw) -> LalmDataModule:
    return LalmDataModule(
        train_manifest=str(manifest),
        val_manifest=str(manifest),
        tokenizer=tokenizer,
        feature_extractor=feature_extractor,
        batch_size=2,
        **kw,
    )


def test_bad_audio_stops_setup_naming_the_files(tmp_path, tokenizer, feature_extractor):
    manifest, files = _manifest(tmp_path)
    _break(files)
    with pytest.raises(UserError) as err:
        _module(manifest, tokenizer, feature_extractor).setup("fit")
    msg = str(err.value)
    assert "3 bad audio file(s) in the train split" in msg
    assert f"{files[1]}: unreadable audio" in msg and f"{files[3]}: unreadable audio" in msg
    assert f"{files[4]}: file not found" in msg
    assert "dataset.skip_bad_audio=true" in msg and len(msg.splitlines()) <= 6


def test_skip_bad_audio_skips_and_counts(tmp_path, tokenizer, feature_extractor, caplog):
    manifest, files = _manifest(tmp_path)
    _break(files)
    dm = _module(manifest, tokenizer, feature_extractor, skip_bad_audio=True)
    with caplog.at_level(logging.WARNING, logger="lalm_framework.data.checks"):
        dm.setup("fit")
    assert "train: skipped 3 bad audio file(s) of 6" in caplog.text
    kept = [Path(u.audio).name for u in dm.datasets["train"].utterances]
    assert kept == ["u0.flac", "u2.flac", "u5.flac"]
    assert sum(len(b["ids"]) for b in dm.train_dataloader()) == 3


def test_empty_and_missing_manifest_and_root(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n")
    cases = [
        ({"train_manifest": str(empty)}, "is empty"),
        ({"train_manifest": str(tmp_path / "nope.jsonl")}, "Manifest not found"),
        ({"root": str(tmp_path / "LibriSpeech")}, "dataset.root: folder not found"),
    ]
    for node, expected in cases:
        # validate_config runs before any job is launched (lalm_framework.config.validate)
        with pytest.raises(UserError, match=expected):
            LalmDataModule.validate_config(OmegaConf.create(node))
    with pytest.raises(UserError, match="is empty"):
        LalmDataModule(train_manifest=str(empty)).read_split("train")


def test_bad_manifest_lines_name_the_line(tmp_path):
    path = tmp_path / "m.jsonl"
    for content, expected in [
        ('{"audio": "a.flac", "text": "x"}\n{oops\n', r"m.jsonl:2: not valid JSON"),
        ('{"wav": "a.flac", "text": "x"}\n', "no audio path: expected one of the keys"),
        ('{"audio": "a.flac", "sentence": "x"}\n', "set dataset.text_key"),
    ]:
        path.write_text(content)
        with pytest.raises(UserError, match=expected):
            LalmDataModule(train_manifest=str(path)).read_split("train")


def test_wrong_split_name_lists_the_splits_found(librispeech_root):
    node = {"root": str(librispeech_root), "train_split": "train-clean-100", "val_split": "dev-clean-2"}
    with pytest.raises(UserError, match="splits found there: dev-clean-2, train-clean-5"):
        LalmDataModule.validate_config(OmegaConf.create(node))
    with pytest.raises(UserError, match="splits found there: dev-clean-2, train-clean-5"):
        LalmDataModule(**node).read_split("train")
