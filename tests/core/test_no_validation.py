"""A run without validation: the default checkpoint keeps the best on train/loss and says so (issue 19 §5).

Callbacks the user chose that monitor a val/ metric are refused: rows in test_bad_inputs.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli


@pytest.mark.slow
@pytest.mark.parametrize(
    "no_validation, reason",
    [
        ("trainer.limit_val_batches=0", "trainer.limit_val_batches=0"),
        ("trainer.check_val_every_n_epoch=2", "check_val_every_n_epoch=2 is more than trainer.max_epochs=1"),
    ],
)
def test_the_default_checkpoint_falls_back_to_train_loss(tmp_path: Path, no_validation: str, reason: str) -> None:
    run = tmp_path / "run"
    args = ["experiment=digits", "logger=none", "trainer.max_epochs=1", no_validation, f"hydra.run.dir={run}"]
    proc = run_cli("lalm-train", args, tmp_path, timeout=600, check=True)
    out = proc.stdout + proc.stderr
    lines = [line for line in out.splitlines() if "No validation runs" in line]
    assert len(lines) == 1 and reason in lines[0] and "train/loss instead of val/acc" in lines[0], out[-3000:]
    assert "Traceback" not in out
    best = [p.name for p in (run / "checkpoints").glob("epoch*.ckpt")]
    assert len(best) == 1, best  # kept on train/loss (on val/acc it would keep none)
    assert (run / "checkpoints" / "last.ckpt").is_file()  # saved at the epoch's end, not at a validation's
