"""Kill a training mid-run, rerun the same command: it resumes, nothing earlier is overwritten."""

import json
import os
import signal
import time

import pytest

from tests.helpers import run_cli, start_cli

EPOCHS = 12
STEPS_PER_EPOCH = 23  # digits: 1438 train images / batch 64


@pytest.mark.slow
def test_kill_and_rerun_resumes_from_last_ckpt(tmp_path):
    run_dir = tmp_path / "run"
    args = [
        "experiment=digits",
        f"trainer.max_epochs={EPOCHS}",
        f"hydra.run.dir={run_dir}",
        "trainer.enable_progress_bar=false",
    ]
    proc = start_cli("lalm-train", args, tmp_path)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert last.exists(), "no last.ckpt was written"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = json.loads((run_dir / "run.json").read_text())
    assert first["attempts"][0]["status"] == "running"  # killed: never finished
    tb_first = sorted(p.name for p in (run_dir / "tensorboard").iterdir())

    run_cli("lalm-train", args, tmp_path, check=True)
    record = json.loads((run_dir / "run.json").read_text())
    assert len(record["attempts"]) == 2
    assert record["attempts"][1]["resumed_from"] == str(last)
    assert record["attempts"][1]["status"] == "completed"
    assert record["metrics"]["global_step"] == EPOCHS * STEPS_PER_EPOCH
    # earlier logs kept, the rerun logged beside them
    tb_after = sorted(p.name for p in (run_dir / "tensorboard").iterdir())
    assert set(tb_first) < set(tb_after)
    assert not list(run_dir.rglob("*.tmp-*")), "temporary checkpoint files left behind"
    # Hydra's record of the first attempt is kept beside the new one
    assert (run_dir / ".hydra" / "attempt-1" / "config.yaml").is_file()
    assert (run_dir / ".hydra" / "config.yaml").is_file()


@pytest.mark.slow
def test_explicit_relative_ckpt_path_with_chdir(tmp_path):
    first = tmp_path / "first"
    run_cli("lalm-train", ["experiment=digits", "trainer.max_epochs=1", f"hydra.run.dir={first}"], tmp_path, check=True)
    second = tmp_path / "second"
    run_cli(
        "lalm-train",
        [
            "experiment=digits",
            "trainer.max_epochs=2",
            f"hydra.run.dir={second}",
            "hydra.job.chdir=true",
            "trainer.ckpt_path=first/checkpoints/last.ckpt",
        ],
        tmp_path,
        check=True,
    )
    record = json.loads((second / "run.json").read_text())
    assert record["attempts"][0]["resumed_from"] == str(first / "checkpoints" / "last.ckpt")
    assert record["metrics"]["global_step"] == 2 * STEPS_PER_EPOCH


@pytest.mark.slow
def test_two_runs_never_share_a_dir(tmp_path):
    for _ in range(2):
        run_cli("lalm-train", ["experiment=digits", "trainer.max_epochs=1", "logger=none"], tmp_path, check=True)
    assert len(list(tmp_path.glob("outputs/digits/*/*/run.json"))) == 2
