"""Kill a training mid-run, rerun the same command: it resumes, nothing earlier is overwritten."""

import json
import os
import re
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


def _drawn_cuts(attempt: dict) -> int:
    return sum(int(s["drawn_cuts"]) for s in attempt["data"]["train"]["sources"])


# 48 utterances: 6 batches of 8 per epoch, of which `limit_train_batches` trains 4
EPOCHS_CUT, LIMIT, BATCH = 2, 4, 8


def _cut_short_args(run_dir) -> list[str]:
    return [
        "logger=none",
        f"trainer.max_epochs={EPOCHS_CUT}",
        f"trainer.limit_train_batches={LIMIT}",
        "dataset.max_utterances=48",
        f"dataset.batch_size={BATCH}",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run_dir}",
    ]


def _resumed_at_the_uninterrupted_step(run_dir, last, saved_step: int = LIMIT) -> None:
    record = json.loads((run_dir / "run.json").read_text())
    resumed = record["attempts"][-1]
    assert resumed["resumed_from"] == str(last) and resumed["status"] == "completed"
    assert record["metrics"]["global_step"] == EPOCHS_CUT * LIMIT  # what the uninterrupted run ends at
    # the batches after the checkpoint's (saved at an epoch end: epoch 2's, not epoch 1's leftovers)
    assert _drawn_cuts(resumed) == (EPOCHS_CUT * LIMIT - saved_step) * BATCH


@pytest.mark.slow
def test_sigint_in_an_epoch_cut_short_then_rerun_ends_at_the_uninterrupted_step(tmp_path):
    """Issue 19 §2: `limit_train_batches` below the epoch's batches, Ctrl-C in epoch 2, rerun.

    The last.ckpt of epoch 1 held "4 of this epoch's 6 batches trained": the rerun finished
    epoch 1's last 2 batches as epoch 2 and ended at step 6 (on the issue's run: 48, not 60).
    """
    import subprocess

    from tests.helpers import VENV_BIN, cli_env

    run_dir = tmp_path / "run"
    args = _cut_short_args(run_dir)
    proc = subprocess.Popen(  # Ctrl-C reaches it as it reaches a terminal's job (not ignored)
        [str(VENV_BIN / "lalm-train"), *args],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert last.exists(), "no last.ckpt after the first epoch"
    proc.send_signal(signal.SIGINT)  # in the second epoch (or its start): before its checkpoint
    assert proc.wait(timeout=120) != 0
    first = json.loads((run_dir / "run.json").read_text())
    assert first["attempts"][0]["status"] == "interrupted"

    run_cli("lalm-train", args, tmp_path, check=True, timeout=600)
    _resumed_at_the_uninterrupted_step(run_dir, last)


SIGTERM_AT = '''
import os, signal
import pytorch_lightning as pl


class SigtermAt(pl.Callback):
    """SIGTERM to this process (as `scontrol requeue` sends it) in hook $LALM_TEST_SIGTERM_AT of
    the first epoch: Lightning stops at the next boundary, `SaveOnTermination` saves there."""

    def _send(self, trainer, hook):
        if hook == os.environ.get("LALM_TEST_SIGTERM_AT") and trainer.current_epoch == 0:
            os.kill(os.getpid(), signal.SIGTERM)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        last = batch_idx + 1 == trainer.num_training_batches
        self._send(trainer, "last_batch" if last else f"batch{batch_idx}")

    def on_train_epoch_end(self, trainer, module):
        self._send(trainer, "epoch_end")
'''


@pytest.mark.slow
@pytest.mark.parametrize("when", ["epoch_end", "last_batch", "batch1"])
def test_sigterm_at_an_epoch_end_cut_short_saves_where_the_rerun_ends_at_the_uninterrupted_step(tmp_path, when):
    """The requeue path without SLURM: SIGTERM exactly at the end of an epoch that
    `limit_train_batches` cut short, or mid-epoch. In the last batch, Lightning stops in the
    epoch's validation (the epoch not counted done), in `on_train_epoch_end` after it (counted
    done): either way the rerun trains the next epoch on the next epoch's data."""
    (tmp_path / "sigterm_at.py").write_text(SIGTERM_AT)
    run_dir = tmp_path / "run"
    checkpoints = run_dir / "checkpoints"
    args = [
        *_cut_short_args(run_dir),
        "~callbacks.last_checkpoint",  # last.ckpt comes from the SIGTERM save alone
        "+callbacks.requeue._target_=lalm_framework.launching.slurm.requeue.SaveOnTermination",
        f"+callbacks.requeue.checkpoint_dir={checkpoints}",
        "+callbacks.sigterm._target_=sigterm_at.SigtermAt",
    ]
    first = run_cli("lalm-train", args, tmp_path, env={"LALM_TEST_SIGTERM_AT": when}, timeout=600)
    out = first.stdout + first.stderr
    saved = re.search(r"SIGTERM: saved (\S+) at global step (\d+)", out)
    assert saved, out[-3000:]
    step = 2 if when == "batch1" else LIMIT
    assert int(saved.group(2)) == step
    assert json.loads((run_dir / "run.json").read_text())["attempts"][0]["status"] != "completed", out[-3000:]
    run_cli("lalm-train", args, tmp_path, check=True, timeout=600)
    _resumed_at_the_uninterrupted_step(run_dir, checkpoints / "last.ckpt", step)
