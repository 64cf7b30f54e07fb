"""Bad data fails early with one short message naming the file (and line) and the fix, per source."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest
from data_fixtures import sample_utterances, write_manifest
from omegaconf import OmegaConf

from lalm_framework.data.datamodule import LalmDataModule
from lalm_framework.errors import UserError

NOT_UTF8 = "é".encode("latin-1")  # a Latin-1 byte that is not valid UTF-8


def _module(manifest: Path, tokenizer, feature_extractor, **kw) -> LalmDataModule:
    kw = {"batch_size": 2, "num_workers": 0, **kw}
    return LalmDataModule(
        train_manifest=str(manifest),
        val_manifest=str(manifest),
        tokenizer=tokenizer,
        feature_extractor=feature_extractor,
        **kw,
    )


def _break(folder: Path) -> list[Path]:
    files = [folder / f"u{i}.flac" for i in range(6)]
    files[1].write_bytes(b"fLaC" + bytes(range(256)) * 8)  # garbage after the magic
    files[3].write_bytes(files[3].read_bytes()[: files[3].stat().st_size // 3])  # truncated copy
    files[4].unlink()  # missing
    return files


def _short(err: pytest.ExceptionInfo, *expected: str) -> str:
    msg = str(err.value)
    assert len(msg.splitlines()) <= 15 and "Traceback" not in msg, msg
    for text in expected:
        assert text in msg, msg
    return msg


def test_bad_audio_stops_setup_naming_the_files(tmp_path, tokenizer, feature_extractor):
    manifest = write_manifest(tmp_path)
    files = _break(tmp_path)
    with pytest.raises(UserError) as err:
        _module(manifest, tokenizer, feature_extractor).setup("fit")
    msg = _short(err, "3 bad audio file(s) in the train split", "dataset.skip_bad_audio=true")
    assert f"{files[1]}: unreadable audio" in msg and f"{files[3]}: unreadable audio" in msg
    assert f"{files[4]}: file not found" in msg and len(msg.splitlines()) <= 6


def test_skip_bad_audio_skips_and_counts(tmp_path, tokenizer, feature_extractor, caplog):
    manifest = write_manifest(tmp_path)
    _break(tmp_path)
    dm = _module(manifest, tokenizer, feature_extractor, skip_bad_audio=True)
    with caplog.at_level(logging.WARNING, logger="lalm_framework.data.checks"):
        dm.setup("fit")
    assert "train: skipped 3 bad audio file(s) of 6" in caplog.text
    kept = [Path(c.recording.sources[0].source).name for c in dm.datasets["train"].cuts]
    assert kept == ["u0.flac", "u2.flac", "u5.flac"]
    assert sum(len(b["ids"]) for b in dm.train_dataloader()) == 3


@pytest.mark.parametrize("skip", [False, True])
def test_audio_that_breaks_while_loading_in_a_worker(tmp_path, tokenizer, feature_extractor, caplog, skip):
    """The checks passed, then a file vanished: a short error from the worker, or a skip."""
    manifest = write_manifest(tmp_path, n=4)
    dm = _module(manifest, tokenizer, feature_extractor, num_workers=1, skip_bad_audio=skip, batch_size=4)
    dm.setup("fit")
    (tmp_path / "u2.flac").write_bytes(b"RIFF" + bytes(100))
    loader = dm.val_dataloader()
    if not skip:
        with pytest.raises(UserError) as err:
            list(loader)
        _short(err, f"Cannot decode audio {tmp_path / 'u2.flac'}", "dataset.skip_bad_audio=true")
    else:
        (batch,) = list(loader)
        assert len(batch["ids"]) == 3


def test_empty_and_missing_manifest_and_root(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n")
    cases = [
        ({"train_manifest": str(empty)}, "is empty"),
        ({"train_manifest": str(tmp_path / "nope.jsonl")}, "Manifest not found"),
        ({"root": str(tmp_path / "LibriSpeech")}, "dataset.root: folder not found"),
        ({"train_cuts": str(tmp_path / "cuts.jsonl.gz")}, "cut manifest not found"),
        ({"path": str(tmp_path / "shards"), "train_split": "train"}, "Shar folder not found"),
    ]
    for node, expected in cases:
        # validate_config runs before any job is launched (lalm_framework.config.validate)
        with pytest.raises(UserError, match=expected):
            LalmDataModule.validate_config(OmegaConf.create(node))
    with pytest.raises(UserError, match="is empty"):
        LalmDataModule(train_manifest=str(empty)).load_split("train")


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"audio": "a.flac", "text": "x"}\n{oops\n', r"m.jsonl:2: not valid JSON"),
        ('["a.flac", "x"]\n', r"m.jsonl:1: expected a JSON object, got list"),
        ('{"wav": "a.flac", "text": "x"}\n', "no audio path: expected one of the keys"),
        ('{"audio": "a.flac", "sentence": "x"}\n', "set dataset.text_key"),
        ('{"audio": "a.flac", "text": ["x"]}\n', "m.jsonl:1: 'text' must be a string"),
        ('{"audio": "a.flac", "text": "x", "duration": "long"}\n', "'duration' must be a number"),
        (
            '{"audio": "a.flac", "text": "x", "id": "u"}\n{"audio": "b.flac", "text": "y", "id": "u"}\n',
            "m.jsonl:2: id 'u' is used twice",
        ),
    ],
)
def test_bad_manifest_lines_name_the_line(tmp_path, content, expected):
    path = tmp_path / "m.jsonl"
    path.write_text(content)
    with pytest.raises(UserError) as err:
        LalmDataModule(train_manifest=str(path)).source("train").texts()  # type: ignore[union-attr]
    _short(err, str(tmp_path))
    assert err.match(expected)


def test_text_that_is_not_utf8_names_file_and_line(tmp_path, librispeech_root):
    """Issue 11 #9: a JSONL manifest or a LibriSpeech trans.txt in another encoding."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(b'{"audio": "a.flac", "text": "ok"}\n{"audio": "b.flac", "text": "caf' + NOT_UTF8 + b'"}\n')
    with pytest.raises(UserError) as err:
        LalmDataModule.training_texts(OmegaConf.create({"train_manifest": str(manifest)}))
    _short(err, f"{manifest}:2: the manifest is not UTF-8", "byte 0xe9 at column 33", "Re-save it as UTF-8")
    trans = librispeech_root / "train-clean-5" / "26" / "198" / "26-198.trans.txt"
    trans.write_bytes(trans.read_bytes() + b"26-198-0003 CAF" + NOT_UTF8 + b"\n")
    node = {"root": str(librispeech_root), "train_split": "train-clean-5"}
    with pytest.raises(UserError) as err:
        LalmDataModule(**node).load_split("train")
    _short(err, f"{trans}:4: the transcript is not UTF-8")
    # training_texts (the tiny tokenizer's corpus from the dataset) reads through the same reader
    with pytest.raises(UserError, match=r"trans.txt:4: the transcript is not UTF-8"):
        LalmDataModule.training_texts(OmegaConf.create(node))


def test_utf8_with_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"audio": "a.flac", "text": "ok"}).encode() + b"\n")
    assert LalmDataModule.training_texts({"train_manifest": str(path)}) == ["ok"]


def test_malformed_transcript_line(librispeech_root):
    trans = librispeech_root / "train-clean-5" / "19" / "198" / "19-198.trans.txt"
    trans.write_text(trans.read_text() + "19-198-0009\n")
    with pytest.raises(UserError) as err:
        LalmDataModule(root=str(librispeech_root), train_split="train-clean-5").load_split("train")
    _short(err, f"{trans}:4: expected '<utterance-id> <TRANSCRIPT>'")


def test_bad_lhotse_cut_manifests(tmp_path):
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment

    flac, text = sample_utterances("dev", 1)[0]
    rec = Recording.from_file(flac, recording_id="r0")
    cut = rec.to_cut()
    cut.supervisions = [
        SupervisionSegment("s0", "r0", 0, 0.3, text=text),
        SupervisionSegment("s1", "r0", 0.3, 0.2, text="x"),
    ]
    CutSet.from_cuts([cut]).to_file(tmp_path / "two_sups.jsonl.gz")
    RecordingSet.from_recordings([rec]).to_file(tmp_path / "recordings.jsonl.gz")
    with gzip.open(tmp_path / "broken.jsonl.gz", "wt") as fh:
        fh.write('{"id": "c", "type": "MonoCut"}\n')
    cases = [
        ("two_sups.jsonl.gz", "has 2 supervisions", "trim_to_supervisions()"),
        ("recordings.jsonl.gz", "recordings.jsonl.gz:1: a Recording, not a cut", "CutSet.from_manifests"),
        ("broken.jsonl.gz", "broken.jsonl.gz:1: not a Lhotse cut", "as Lhotse writes it"),
    ]
    for name, *expected in cases:
        with pytest.raises(UserError) as err:
            LalmDataModule(train_cuts=str(tmp_path / name)).load_split("train")
        _short(err, *expected)


def test_lhotse_cuts_with_missing_audio(tmp_path):
    from lhotse import CutSet

    manifest = write_manifest(tmp_path, n=3)
    LalmDataModule(train_manifest=str(manifest)).load_split("train").cuts.to_file(tmp_path / "cuts.jsonl.gz")
    (tmp_path / "u1.flac").unlink()
    with pytest.raises(UserError) as err:
        LalmDataModule(train_cuts=str(tmp_path / "cuts.jsonl.gz")).load_split("train")
    _short(err, f"{tmp_path / 'u1.flac'}: file not found", "dataset.skip_bad_audio=true")
    kept = LalmDataModule(train_cuts=str(tmp_path / "cuts.jsonl.gz"), skip_bad_audio=True).load_split("train")
    assert kept.size == 2 and [c.id for c in kept.ordered(None, metadata=False)] == ["u0#1", "u2#3"]
    assert isinstance(kept.cuts, CutSet)


def test_incomplete_shar_folder(tmp_path):
    manifest = write_manifest(tmp_path, n=2)
    (tmp_path / "shar" / "train").mkdir(parents=True)
    cuts = LalmDataModule(train_manifest=str(manifest)).load_split("train").cuts
    cuts.to_shar(tmp_path / "shar" / "train", fields={"recording": "flac"}, shard_size=1)
    (tmp_path / "shar" / "train" / "recording.000001.tar").unlink()
    with pytest.raises(UserError) as err:
        LalmDataModule.validate_config(OmegaConf.create({"path": str(tmp_path / "shar"), "train_split": "train"}))
    _short(err, "2 cut shards but 1 recording shards", "lalm-prepare-data")


def test_wrong_split_name_lists_the_splits_found(librispeech_root):
    node = {"root": str(librispeech_root), "train_split": "train-clean-100", "val_split": "dev-clean-2"}
    with pytest.raises(UserError, match="splits found there: dev-clean-2, train-clean-5"):
        LalmDataModule.validate_config(OmegaConf.create(node))
    with pytest.raises(UserError, match="splits found there: dev-clean-2, train-clean-5"):
        LalmDataModule(**node).load_split("train")


@pytest.mark.parametrize(
    "node, expected",
    [
        ({"batch_size": None, "max_duration": None}, "both null: set one of them"),
        ({"max_duration": -5}, "dataset.max_duration=-5: seconds of audio per batch"),
        ({"batch_size": 0}, "dataset.batch_size=0: must be a whole number >= 1"),
        ({"num_workers": "two"}, "dataset.num_workers='two': give a number of DataLoader workers"),
        ({"num_buckets": 0}, "dataset.num_buckets=0"),
    ],
)
def test_bad_batching_options(node, expected):
    with pytest.raises(UserError, match=expected):
        LalmDataModule.validate_config(OmegaConf.create(node))


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_gz_cut_manifest_names_the_file_and_the_fix(tmp_path, damage):
    manifest = write_manifest(tmp_path, n=3)
    good = tmp_path / "cuts_train.jsonl.gz"
    LalmDataModule(train_manifest=str(manifest)).load_split("train").cuts.to_file(good)
    data = bytearray(good.read_bytes())
    if damage == "garbage":
        mid = len(data) // 2
        data[mid : mid + 48] = bytes(range(48))
    else:
        data = data[: len(data) // 2]
    good.write_bytes(bytes(data))
    with pytest.raises(UserError) as err:
        LalmDataModule(train_cuts=str(good)).load_split("train")
    _short(err, str(good), "damaged or incomplete", "write it again")


def test_librispeech_folder_as_shar_gives_the_fix(librispeech_root):
    with pytest.raises(UserError) as err:
        node = {"path": str(librispeech_root), "train_split": "train-clean-5"}
        LalmDataModule.validate_config(OmegaConf.create(node))
    _short(err, "lalm-prepare-data", "dataset=librispeech")
