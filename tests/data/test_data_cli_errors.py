"""`lalm-train` with bad data or dataset options: one short message, no traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from data_fixtures import sample_utterances

from tests.helpers import run_cli


def _assert_short_error(proc, *expected: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Traceback" not in out, out
    for text in expected:
        assert text in out, out


def _manifest(tmp_path: Path, n: int = 4) -> Path:
    rows = []
    for i, (flac, text) in enumerate(sample_utterances("dev", n)):
        shutil.copy(flac, tmp_path / f"u{i}.flac")
        rows.append({"audio": f"u{i}.flac", "text": text})
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path / "m.jsonl"


def test_corrupt_flac_stops_before_training(tmp_path: Path):
    _manifest(tmp_path)
    (tmp_path / "u2.flac").write_bytes(b"fLaC" + bytes(2048))
    proc = run_cli(
        "lalm-train",
        [
            "dataset=jsonl",
            "dataset.train_manifest=m.jsonl",
            "dataset.val_manifest=m.jsonl",
            "dataset.num_workers=0",
            "logger=none",
            "trainer.max_epochs=1",
        ],
        cwd=tmp_path,
        timeout=300,
    )
    _assert_short_error(proc, f"{tmp_path / 'u2.flac'}: unreadable audio", "dataset.skip_bad_audio=true")
    assert "Epoch 0" not in proc.stdout + proc.stderr


def test_unknown_dataset_option_is_named(tmp_path: Path):
    proc = run_cli("lalm-train", ["dataset=librispeec"], cwd=tmp_path, timeout=120)
    _assert_short_error(proc, "librispeec")
    assert len((proc.stdout + proc.stderr).strip().splitlines()) <= 8


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["dataset=jsonl", "dataset.train_manifest={tmp}/empty.jsonl"], "empty.jsonl is empty"),
        (["dataset=jsonl", "dataset.train_manifest={tmp}/missing.jsonl"], "Manifest not found"),
        (["dataset=librispeech", "dataset.root={tmp}/nowhere"], "dataset.root: folder not found"),
        (["+dataset.batch_sise=4"], "Did you mean 'batch_size'?"),
        (["dataset.prompt_template=Transcribe:"], "must contain it once"),
        (
            ["dataset=jsonl", "dataset.num_workers=two"],
            "dataset.num_workers='two': give a number of DataLoader workers",
        ),
        (["dataset.max_duration=0"], "dataset.max_duration=0: seconds of audio per batch"),
        (["dataset.batch_size=null"], "both null: set one of them"),
        (["dataset=lhotse"], "dataset.train_cuts: cut manifest not found"),
        (["dataset=shar", "dataset.path={tmp}/shards"], "Shar folder not found"),
        (["+dataset.min_duration=1"], "takes no argument 'min_duration'"),
    ],
)
def test_bad_dataset_config_fails_validation(tmp_path: Path, overrides, expected):
    """The same check `lalm-train` runs on every job before launching any (in-process: fast)."""
    from lalm_framework import compose
    from lalm_framework.config.validate import validate
    from lalm_framework.errors import UserError

    (tmp_path / "empty.jsonl").write_text("")
    # outside a Hydra run ${hydra:...} does not resolve: give the paths a run would have
    paths = [f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}/out"]
    cfg = compose(paths + [o.format(tmp=tmp_path) for o in overrides])
    with pytest.raises(UserError, match=expected.replace("?", r"\?")):
        validate(cfg)


@pytest.mark.slow
def test_truncated_shar_recording_names_the_shard_and_the_fix(tmp_path: Path):
    _manifest(tmp_path, n=4)
    run_cli(
        "lalm-prepare-data",
        [
            "dataset=jsonl",
            "dataset.train_manifest=m.jsonl",
            "dataset.val_manifest=m.jsonl",
            "--shard-size",
            "2",
            "shards",
        ],
        cwd=tmp_path,
        timeout=300,
        check=True,
    )
    tar = tmp_path / "shards" / "train" / "recording.000000.tar"
    tar.write_bytes(tar.read_bytes()[: tar.stat().st_size // 3])
    args = ["dataset=shar", "dataset.path=shards", "logger=none", "trainer.max_epochs=1", "dataset.num_workers=0"]
    proc = run_cli("lalm-train", args, cwd=tmp_path, timeout=300)
    _assert_short_error(proc, f"Shar shard {tar} is damaged or incomplete", "re-run lalm-prepare-data")
    assert len(proc.stderr.strip().splitlines()) <= 15, proc.stderr
