"""`lalm-train` on the bundled speech set, then `lalm-infer` on its checkpoint reproduces dev WER."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import run_cli

SPEECH = Path(__file__).resolve().parents[2] / "lalm_framework" / "samples" / "speech"
DEV = SPEECH / "dev"


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """Three epochs on 48 training utterances (the dev split is read in full: 40)."""
    cwd = tmp_path_factory.mktemp("train")
    run_dir = cwd / "run"
    proc = run_cli(
        "lalm-train",
        ["trainer.max_epochs=3", "++dataset.max_utterances=48", "logger=none", f"hydra.run.dir={run_dir}"],
        cwd=cwd,
        timeout=400,
        check=True,
    )
    return cwd, run_dir, proc.stdout + proc.stderr


def test_training_shows_progress_prints_dev_wer_and_loss_falls(short_run):
    _, run_dir, out = short_run
    assert re.search(r"Epoch 2\D.*?\d+/\d+", out), "no Lightning progress bar in the output"
    printed = re.findall(r"^\[[\d:]+\] epoch \d+/\d+: .*val/loss ([\d.]+)  val/wer ([\d.]+)%$", out, re.M)
    assert len(printed) == 3, out[-2000:]  # one line per epoch, each on its own line
    losses = [float(loss) for loss, _ in printed]
    assert losses[-1] < losses[0]
    metrics = json.loads((run_dir / "run.json").read_text())["metrics"]
    assert metrics["val/wer"] == pytest.approx(float(printed[-1][1]) / 100, abs=1e-3)  # printed to 0.1%


def test_infer_on_the_checkpoint_reproduces_the_dev_wer(short_run):
    cwd, run_dir, _ = short_run
    trained_wer = json.loads((run_dir / "run.json").read_text())["metrics"]["val/wer"]
    out = cwd / "dev_hyps.jsonl"
    proc = run_cli(
        "lalm-infer",
        [str(run_dir / "checkpoints" / "last.ckpt"), str(DEV), "--out", str(out), "--no-progress"],
        cwd=cwd,
        timeout=300,
        check=True,
    )
    # last.ckpt holds the final state (not merely the best epoch's)
    import torch

    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    final_step = json.loads((run_dir / "run.json").read_text())["metrics"]["global_step"]
    assert ckpt["global_step"] == final_step
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 40 and all("hypothesis" in r and r["reference"] for r in rows)
    wer = float(re.search(r"WER ([\d.]+)% on 40 utterances", proc.stdout).group(1)) / 100
    assert wer == pytest.approx(trained_wer, abs=1e-4)

    # earlier results are never overwritten; the message says what to do
    again = run_cli(
        "lalm-infer", [str(run_dir / "checkpoints" / "last.ckpt"), str(DEV), "--out", str(out)], cwd=cwd, timeout=120
    )
    assert again.returncode == 1 and "exists already" in again.stderr and "Traceback" not in again.stderr


def test_validating_the_checkpoint_reproduces_the_dev_wer(short_run):
    cwd, run_dir, out = short_run
    trained = json.loads((run_dir / "run.json").read_text())
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    # the summary names the exact command that scores the best checkpoint on the dev split
    assert f"Transcribe with it: lalm-infer {trained['attempts'][-1]['best_checkpoint']} {DEV}\n" in out
    run_cli(
        "lalm-train",
        ["train=false", "validate=true", f"trainer.ckpt_path={ckpt}", "logger=none", "hydra.run.dir=eval"],
        cwd=cwd,
        timeout=300,
        check=True,
    )
    evaluated = json.loads((cwd / "eval" / "run.json").read_text())["metrics"]
    # the checkpoint's weights, not freshly built ones: the final dev WER of the training
    assert evaluated["val/wer"] == pytest.approx(trained["metrics"]["val/wer"], abs=1e-6)


@pytest.mark.slow
def test_testing_the_checkpoint_equals_lalm_infer_on_the_test_split(short_run):
    """`train=false test=true trainer.ckpt_path=X` scores X's weights: the WER lalm-infer gets on X."""
    cwd, run_dir, _ = short_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    run_cli(
        "lalm-train",
        ["train=false", "test=true", f"trainer.ckpt_path={ckpt}", "logger=none", "hydra.run.dir=test_eval"],
        cwd=cwd,
        timeout=300,
        check=True,
    )
    tested = json.loads((cwd / "test_eval" / "run.json").read_text())["metrics"]["test/wer"]
    out = cwd / "test_hyps.jsonl"
    proc = run_cli(
        "lalm-infer", [str(ckpt), str(SPEECH / "test"), "--out", str(out), "--no-progress"], cwd=cwd, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    inferred = float(re.search(r"WER ([\d.]+)% on 40 utterances", proc.stdout).group(1)) / 100
    assert tested == pytest.approx(inferred, abs=1e-4)


def test_infer_errors_are_short(tmp_path):
    proc = run_cli("lalm-infer", [str(tmp_path / "missing.ckpt"), str(DEV)], cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    assert "Checkpoint not found" in proc.stderr and "Traceback" not in proc.stderr
    empty, ckpt = tmp_path / "empty.jsonl", tmp_path / "some.ckpt"
    empty.write_text("")
    ckpt.write_bytes(b"")
    proc = run_cli("lalm-infer", [str(ckpt), str(empty)], cwd=tmp_path, timeout=120)
    assert proc.returncode == 1 and "empty" in proc.stderr and "Traceback" not in proc.stderr


def test_export_of_a_trained_run_has_a_model_card_from_its_run_json(short_run):
    cwd, run_dir, _ = short_run
    out = cwd / "shared_model"
    proc = run_cli("lalm-export", [str(run_dir / "checkpoints" / "last.ckpt"), str(out)], cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Note:" not in proc.stdout  # run.json was found
    card = (out / "README.md").read_text()
    record = json.loads((run_dir / "run.json").read_text())
    assert "lalm-train trainer.max_epochs=3 ++dataset.max_utterances=48" in card
    # last.ckpt: its own dev metrics, stored inside it, and where they come from
    assert f"| dev | WER | {100 * record['metrics']['val/wer']:.2f}% |" in card
    assert "stored inside `last.ckpt`" in card
    assert "train_split: `train`" in card and "## Intended use and limits" in card
    # the data fingerprint the run recorded (per attempt): the card tells the data apart by hash
    assert record["attempts"][-1]["data"]["train"]["sha256"] in card
    assert "random-init Whisper-style encoder" in card  # model=tiny: base models named as such
    meta = json.loads((out / "lalm_config.json").read_text())
    assert meta["exported_from"]["run"] == str(run_dir)
