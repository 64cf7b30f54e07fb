"""`lalm-runs` and `curves.png` on the dirs of a real (tiny) sweep, read back as a user would."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.helpers import run_cli

pytestmark = pytest.mark.slow  # a two-job sweep of the tiny model: ~1 min on 2 cores


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("runs")
    run_cli("lalm-train", ["-m", "lr=1e-3,3e-3", "debug=limit_batches", "trainer.max_epochs=2"], cwd, check=True)
    return cwd


def _png_is_a_plot(path: Path) -> None:
    import matplotlib.image

    assert path.is_file() and path.stat().st_size > 10_000, path
    pixels = matplotlib.image.imread(str(path))
    assert pixels.shape[0] > 200 and pixels.shape[1] > 400
    assert pixels[..., :3].std() > 0.05  # lines and text, not a blank canvas


def test_every_run_writes_curves_and_names_them(sweep: Path) -> None:
    dirs = sorted(p.parent for p in sweep.glob("multirun/train/*/*/*/run.json"))
    assert len(dirs) == 2
    for job_dir in dirs:
        _png_is_a_plot(job_dir / "curves.png")
        record = json.loads((job_dir / "run.json").read_text())
        epochs = record["attempts"][-1]["epochs"]
        assert [row["epoch"] for row in epochs] == [0, 1] and "val/loss" in epochs[0]
        log = (job_dir / "train.log").read_text()
        assert "curves.png" in log and "tensorboard --logdir" in log and "Compare runs: lalm-runs" in log


def test_rows_filters_and_formats(sweep: Path) -> None:
    proc = run_cli("lalm-runs", ["--format", "json"], sweep, check=True)
    rows = json.loads(proc.stdout)
    assert [r["overrides"] for r in rows] == ["lr=0.001", "lr=0.003"]  # only what differs between them
    assert all(r["status"] == "completed" and r["epochs"] == 2 and r["best"] > 0 for r in rows)
    assert all(r["task"] == "train" and (sweep / r["dir"] / "run.json").is_file() for r in rows)

    where = json.loads(run_cli("lalm-runs", ["--where", "lr=3e-3", "--format", "json"], sweep, check=True).stdout)
    assert len(where) == 1 and where[0]["overrides"].startswith("lr=0.003")  # 3e-3 matches 0.003; one row: all
    failed = run_cli("lalm-runs", ["--status", "failed"], sweep, check=True)
    assert "No runs" in failed.stderr
    by_best = json.loads(run_cli("lalm-runs", ["--sort", "best", "--format", "json"], sweep, check=True).stdout)
    assert [r["best"] for r in by_best] == sorted(r["best"] for r in rows)

    table = list(csv.DictReader(io.StringIO(run_cli("lalm-runs", ["--format", "csv"], sweep, check=True).stdout)))
    assert [r["overrides"] for r in table] == ["lr=0.001", "lr=0.003"]
    text = run_cli("lalm-runs", [], sweep, env={"COLUMNS": "120"}, check=True).stdout
    assert "2 run(s)" in text and "completed" in text and "lr=0.001" in text

    bad = run_cli("lalm-runs", ["--where", "lr"], sweep)
    assert bad.returncode == 1 and "key=value" in bad.stderr and "Traceback" not in bad.stderr


def test_compare_and_plot(sweep: Path) -> None:
    a, b = (r["dir"] for r in json.loads(run_cli("lalm-runs", ["--format", "json"], sweep, check=True).stdout))
    out = run_cli("lalm-runs", ["--compare", a, b], sweep, env={"COLUMNS": "120"}, check=True).stdout
    assert "config differences" in out and "lr" in out and "0.001" in out and "0.003" in out
    assert "val/loss" in out and "paths.output_dir" not in out
    run_cli("lalm-runs", ["--plot", a, b, "--out", "both.png"], sweep, check=True)
    _png_is_a_plot(sweep / "both.png")
