"""Evaluation of a LALM: `trainer.test` has a test_step whose WER is `lalm-infer`'s; every output
row carries its own input's audio path and reference, whatever the ids in the manifest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from tiny_lalm import DATA_SETTINGS, sample_files, save_checkpoint, tiny_kwargs

from lalm_framework.data.utterance import Utterance
from lalm_framework.inference.transcribe import transcribe, wer_of
from tests.helpers import run_cli


def _manifest(path: Path, files: list[Path], texts: list[str], ids: list[str | None]) -> Path:
    lines = []
    for f, text, utt_id in zip(files, texts, ids, strict=True):
        row = {"audio": str(f), "text": text}
        if utt_id is not None:
            row["id"] = utt_id
        lines.append(json.dumps(row) + "\n")
    path.write_text("".join(lines))
    return path


def _references(files: list[Path]) -> list[str]:
    out = []
    for f in files:
        trans = f.parent / f"{f.stem.rsplit('-', 1)[0]}.trans.txt"
        out.append(dict(line.split(" ", 1) for line in trans.read_text().splitlines())[f.stem])
    return out


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    from lalm_framework.models.lalm_module import LalmModule

    torch.manual_seed(0)  # random-init: varied, non-empty hypotheses, a WER far from 0
    return save_checkpoint(LalmModule(**tiny_kwargs()), tmp_path_factory.mktemp("eval") / "last.ckpt")


def test_trainer_test_with_ckpt_path_gives_the_wer_of_lalm_infer(ckpt, tmp_path):
    """`test=true` no longer fails with "No test_step() method defined"; its WER is lalm-infer's."""
    import pytorch_lightning as pl

    from lalm_framework.data.datamodule import LalmDataModule
    from lalm_framework.models.lalm_module import LalmModule
    from lalm_framework.trainer_addons.checkpoint_io import AtomicCheckpointIO

    files = sample_files("test", 10)
    refs = _references(files)
    ids = ["same", "same", None, "same", *[f"u{i}" for i in range(6)]]  # duplicate and missing ids
    manifest = _manifest(tmp_path / "test.jsonl", files, refs, ids)
    # training and evaluation key cuts by id: they refuse duplicates; lalm-infer takes rows by position
    unique = _manifest(tmp_path / "test_unique.jsonl", files, refs, [None, *[f"v{i}" for i in range(9)]])
    torch.manual_seed(123)  # other random weights: trainer.test must load the checkpoint's
    module = LalmModule(**tiny_kwargs())
    dm = LalmDataModule(test_manifest=str(unique), eval_batch_size=DATA_SETTINGS["eval_batch_size"])
    trainer = pl.Trainer(
        logger=False, enable_progress_bar=False, enable_model_summary=False, plugins=[AtomicCheckpointIO()]
    )
    (result,) = trainer.test(module, datamodule=dm, ckpt_path=ckpt, verbose=False)
    assert "test/loss" in result

    out = tmp_path / "h.jsonl"
    proc = run_cli("lalm-infer", [str(ckpt), str(manifest), "--out", str(out), "--no-progress"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # every row carries its own input, whatever the ids
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["audio"], r["reference"]) for r in rows] == [(str(f), t) for f, t in zip(files, refs, strict=True)]
    assert [r["id"] for r in rows][:4] == ["same", "same", f"{files[2].stem}#3", "same"]
    infer_wer = float(re.search(r"WER ([\d.]+)% on 10 utterances", proc.stdout).group(1)) / 100
    assert result["test/wer"] > 0.5  # the checkpoint's random weights: not a trivial 0
    assert result["test/wer"] == pytest.approx(infer_wer, abs=1e-4)


def test_rows_carry_their_own_input_whatever_the_ids(tiny_module, tmp_path):
    """Duplicate ids, missing ids and an unreadable file: row i is input i's audio, reference, hypothesis."""
    files = sample_files("dev", 5)
    refs = _references(files)
    # two different recordings share the id "a"; two rows have no id (generated from the file name)
    utts = [
        Utterance(id=i, audio=str(f), text=t) for i, f, t in zip(["a", "a", "b#1", "x", "x"], files, refs, strict=True)
    ]
    utts.insert(2, Utterance(id="b#1", audio=str(tmp_path / "gone.flac"), text="missing file"))
    rows = transcribe(tiny_module, utts, batch_size=2, skip_bad_audio=True, progress=False)
    assert [(r["id"], r["audio"], r.get("reference")) for r in rows] == [(u.id, u.audio, u.text) for u in utts]
    assert rows[2]["hypothesis"] is None and "unreadable" in rows[2]["error"]
    # each hypothesis is its own audio's: the same as transcribing that file alone (batches of one:
    # padding in a larger batch may move the last bits of a random model's logits)
    rows = transcribe(tiny_module, utts, batch_size=1, skip_bad_audio=True, progress=False)
    for row in rows:
        if row["hypothesis"] is not None:
            alone = transcribe(tiny_module, [Utterance(id="solo", audio=row["audio"], text="")], progress=False)
            assert alone[0]["hypothesis"] == row["hypothesis"], row
    assert wer_of(rows) is not None  # scored on the rows with hypotheses only
