"""A sweep that would train every job for the default 80 epochs says so once, and runs as asked."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli


def test_a_default_length_sweep_says_so_once(tmp_path: Path) -> None:
    proc = run_cli("lalm-train", ["-m", "lr=1e-4,3e-4,1e-3", "dry_run=true"], tmp_path, check=True)
    assert proc.stderr.count("3 jobs × 80 epochs") == 1 and "trainer.max_epochs=" in proc.stderr
    assert "~30 min" in proc.stderr  # the default job's measured pace (README: ~10 min per run)
    assert proc.stdout.count("#") == 3  # the jobs themselves are unchanged: three, as typed


def test_a_sweep_that_sets_its_epochs_is_not_told(tmp_path: Path) -> None:
    proc = run_cli("lalm-train", ["-m", "lr=1e-4,3e-4", "trainer.max_epochs=3", "dry_run=true"], tmp_path, check=True)
    assert "epochs" not in proc.stderr
