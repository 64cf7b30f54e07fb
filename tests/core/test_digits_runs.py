"""One digits training, then what users do with it: evaluate its checkpoint, rerun its saved config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import run_cli

QUIET = ["logger=none", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("digits")
    proc = run_cli(
        "lalm-train", ["experiment=digits", "trainer.max_epochs=3", "hydra.run.dir=run", *QUIET], cwd, check=True
    )
    return cwd, json.loads((cwd / "run" / "run.json").read_text()), proc.stdout + proc.stderr


def _record(path: Path) -> dict:
    return json.loads(path.read_text())


def test_run_ends_with_a_summary_and_logs_each_epoch(trained):
    cwd, record, out = trained
    best = record["attempts"][-1]["best_checkpoint"]
    assert Path(best).is_file() and Path(best).parent == cwd / "run" / "checkpoints"
    assert f"Output dir: {cwd / 'run'}" in out
    assert f"Best checkpoint: {best} (val/acc=" in out and "Last val/acc: " in out
    log = (cwd / "run" / "train.log").read_text()  # Hydra's job log file, not only the console
    for epoch in range(3):
        assert f"epoch {epoch}/2: " in log
    assert "val/acc=" in log and "Best checkpoint: " in log


@pytest.mark.slow
def test_evaluating_a_checkpoint_uses_its_weights(trained):
    cwd, record, _ = trained
    best = Path(record["attempts"][-1]["best_checkpoint"])
    evaluate = ["experiment=digits", "train=false", "validate=true", "test=true", *QUIET]
    # a path relative to the launch dir, as users type it
    run_cli(
        "lalm-train", [*evaluate, f"trainer.ckpt_path={best.relative_to(cwd)}", "hydra.run.dir=eval"], cwd, check=True
    )
    evaluated = _record(cwd / "eval" / "run.json")
    assert evaluated["attempts"][-1]["evaluated"] == str(best)
    # the trained weights: the checkpoint's own validation accuracy, and test = val split in digits
    # (before: the untrained model was evaluated, test/acc ~0.07)
    assert evaluated["metrics"]["val/acc"] == pytest.approx(record["metrics"]["val/acc_best"], abs=1e-6)
    assert evaluated["metrics"]["test/acc"] == pytest.approx(record["metrics"]["val/acc_best"], abs=1e-6)
    # random weights only when asked for
    run_cli("lalm-train", [*evaluate, "evaluate_untrained=true", "hydra.run.dir=untrained"], cwd, check=True)
    assert _record(cwd / "untrained" / "run.json")["metrics"]["test/acc"] < 0.3


@pytest.mark.parametrize(
    "args,words",
    [
        (["train=false", "test=true"], ["trainer.ckpt_path", "evaluate_untrained=true"]),
        (["train=false"], ["nothing to run", "validate=true"]),
        (["train=false", "validate=true", "trainer.ckpt_path=last"], ["last.ckpt"]),
    ],
)
def test_evaluating_nothing_is_refused(tmp_path, args, words):
    proc = run_cli("lalm-train", ["experiment=digits", *args], tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert all(w in proc.stderr for w in words), proc.stderr
    assert not list(tmp_path.rglob("*.ckpt"))


def test_rerun_an_edited_saved_config_by_relative_path(trained):
    cwd, _, _ = trained
    shutil.copytree(cwd / "run" / ".hydra", cwd / "edited")
    saved = cwd / "edited" / "config.yaml"
    text = saved.read_text()
    assert "hidden: 64" in text and "max_epochs: 3" in text
    saved.write_text(text.replace("hidden: 64", "hidden: 16").replace("max_epochs: 3", "max_epochs: 1"))
    rerun = ["--config-path", "edited", "--config-name", "config"]  # before: "Primary config module ... not found"

    bad = run_cli("lalm-train", [*rerun, "trainer.max_epochs=abc"], cwd)
    assert bad.returncode == 1 and "trainer.max_epochs" in bad.stderr and "Integer" in bad.stderr  # schema kept

    run_cli("lalm-train", [*rerun, "trainer.enable_progress_bar=false"], cwd, check=True)
    (record_path,) = cwd.glob("outputs/digits/*/*/run.json")  # our output layout, named by the task
    record = _record(record_path)
    assert record["config"]["model"]["hidden"] == 16 and record["metrics"]["global_step"] == 23  # the edits
    assert record["command"] == ["lalm-train", *rerun, "trainer.enable_progress_bar=false"]  # as typed
    assert (record_path.parent / ".hydra" / "config.yaml").is_file()
