"""Commands around the data: `lalm-prepare-data` (Shar shards), the manifest builder, `sample:<split>`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from data_fixtures import sample_utterances, write_manifest

from lalm_framework.data.make_manifest import main as make_manifest
from lalm_framework.data.manifest import read_manifest
from lalm_framework.errors import UserError
from lalm_framework.inference.inputs import read_inputs
from lalm_framework.samples import SAMPLE_ROOT
from tests.helpers import run_cli


def _short_error(proc, *expected: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in out and len(out.strip().splitlines()) <= 15, out
    for text in expected:
        assert text in out, out


def test_prepare_data_writes_shar_that_trains_and_never_overwrites(tmp_path: Path):
    write_manifest(tmp_path / "data", n=5, name="train.jsonl")
    write_manifest(tmp_path / "data", n=3, split="dev", name="dev.jsonl")
    args = ["dataset=jsonl", "dataset.train_manifest=data/train.jsonl", "dataset.val_manifest=data/dev.jsonl"]
    proc = run_cli("lalm-prepare-data", [*args, "--shard-size", "2", "shards"], cwd=tmp_path, timeout=300, check=True)
    assert "train: 5 cuts in 3 shard(s)" in proc.stdout and "dataset=shar dataset.path=" in proc.stdout
    index = json.loads((tmp_path / "shards" / "lalm_shar.json").read_text())
    assert index["train"]["cuts"] == 5 and index["val"]["cuts"] == 3 and index["train"]["source"]["kind"] == "jsonl"
    assert sorted(p.name for p in (tmp_path / "shards" / "train").iterdir())[:2] == [
        "cuts.000000.jsonl.gz",
        "cuts.000001.jsonl.gz",
    ]
    assert not list((tmp_path / "shards").glob(".*"))  # no temporary folders left
    # the shards are a dataset: same texts, in the same order
    from lalm_framework.data.datamodule import LalmDataModule

    node = {"path": str(tmp_path / "shards"), "train_split": "train"}
    assert LalmDataModule.training_texts(node) == [u.text for u in read_manifest(tmp_path / "data" / "train.jsonl")]
    from lalm_framework.data.shar import write_shar

    with pytest.raises(UserError, match="shards/train exists already; Shar shards are never overwritten"):
        write_shar(LalmDataModule(train_manifest=str(tmp_path / "data" / "train.jsonl")), tmp_path / "shards")


@pytest.mark.parametrize(
    "args, expected",
    [
        (["dataset=jsonl", "dataset.train_manifest=missing.jsonl", "out"], "Manifest not found"),
        (["dataset=digits", "out"], "writes speech datasets only"),
        (["dataset=sample", "dataset.val_split=nope"], "must be the output folder"),
        (["--splits", "train,dev", "out"], "'dev' is not one of train, val, test"),
        (["dataset=sampel", "out"], "Did you mean 'sample'?"),
        (["dataset=sample", "--audio-format", "mp4", "--splits", "val", "out"], "--audio-format mp4"),
    ],
)
def test_prepare_data_bad_input_is_one_short_message(tmp_path: Path, monkeypatch, capsys, args, expected):
    """In-process (the console script is run above): main() exits 1 with one short message."""
    from lalm_framework.cli.prepare_data import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code in (1, 2) and "Traceback" not in err and len(err.strip().splitlines()) <= 15, err
    assert expected in err, err


def test_prepare_data_help_imports_nothing_heavy(tmp_path: Path):
    import subprocess
    import sys

    code = (
        "import sys; from lalm_framework.cli.prepare_data import build_parser; build_parser().format_help();"
        "print(sorted(m for m in ('torch', 'lhotse', 'pytorch_lightning') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_make_manifest_from_wav_and_txt_pairs(tmp_path: Path, capsys):
    folder = tmp_path / "clips"
    (folder / "sub").mkdir(parents=True)
    pairs = sample_utterances("dev", 3)
    for i, (flac, text) in enumerate(pairs):
        target = folder / ("sub" if i else "") / f"clip{i}.flac"
        shutil.copy(flac, target)
        target.with_suffix(".txt").write_text(text.lower() + "\n")
    out = tmp_path / "clips.jsonl"
    assert make_manifest([str(folder), str(out)]) == 0
    utts = read_manifest(out)
    assert [u.id for u in utts] == ["clip0", "sub/clip1", "sub/clip2"]
    assert [u.text for u in utts] == [t.lower() for _, t in pairs]
    assert all(u.duration and u.duration > 0.3 for u in utts)
    assert json.loads(out.read_text().splitlines()[0])["audio"] == "clips/clip0.flac"  # relative to the manifest
    with pytest.raises(SystemExit):  # never overwrites
        make_manifest([str(folder), str(out)])
    assert "exists already" in capsys.readouterr().err


def test_make_manifest_from_librispeech_layout_and_its_errors(tmp_path: Path, librispeech_root: Path, capsys):
    out = tmp_path / "dev.jsonl"
    assert make_manifest([str(librispeech_root / "dev-clean-2"), str(out)]) == 0
    assert [u.id for u in read_manifest(out)][:2] == ["19-198-0000", "19-198-0001"]
    (tmp_path / "lonely").mkdir()
    shutil.copy(sample_utterances("dev", 1)[0][0], tmp_path / "lonely" / "a.flac")
    with pytest.raises(SystemExit):
        make_manifest([str(tmp_path / "lonely"), str(tmp_path / "x.jsonl")])
    err = capsys.readouterr().err
    assert "1 audio file(s) without a transcript" in err and "a.flac" in err and "Traceback" not in err


def test_sample_alias_reads_the_bundled_split_from_anywhere(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    utts = read_inputs(["sample:dev"])
    assert len(utts) == 40 and all(Path(u.audio).is_relative_to(SAMPLE_ROOT / "dev") for u in utts)
    assert all(u.text for u in utts)
    with pytest.raises(UserError, match="use one of sample:dev, sample:test, sample:train"):
        read_inputs(["sample:validation"])


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_shar_output_follows_the_umask(tmp_path: Path, umask: int):
    # Shar is for shared file systems: split folders were 0700 and lalm_shar.json 0600 whatever the umask
    import os

    from lalm_framework.data.datamodule import LalmDataModule
    from lalm_framework.data.shar import write_shar

    write_manifest(tmp_path / "data", n=3, name="train.jsonl")
    old = os.umask(umask)
    try:
        write_shar(LalmDataModule(train_manifest=str(tmp_path / "data" / "train.jsonl")), tmp_path / "shards")
    finally:
        os.umask(old)
    out = tmp_path / "shards"
    modes = {p.relative_to(out).as_posix(): p.stat().st_mode & 0o777 for p in [out, *out.rglob("*")]}
    assert modes["train"] == 0o777 & ~umask and modes["lalm_shar.json"] == 0o666 & ~umask, modes
    assert all(m == (0o777 if (out / p).is_dir() else 0o666) & ~umask for p, m in modes.items()), modes


def test_prepare_data_output_path_is_a_file(tmp_path: Path, monkeypatch, capsys):
    # before: a FileExistsError traceback from mkdir
    from lalm_framework.cli.prepare_data import main

    (tmp_path / "shards.txt").write_text("a list of shards, not a folder\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "file").write_text("x")
    monkeypatch.chdir(tmp_path)
    for out in ("shards.txt", "dir/file/sub"):
        with pytest.raises(SystemExit) as exit_info:
            main(["dataset=sample", "--splits", "val", out])
        err = capsys.readouterr().err
        assert exit_info.value.code == 1 and "Traceback" not in err and len(err.strip().splitlines()) <= 15, err
        assert out.split("/")[0] in err and "folder" in err, err
