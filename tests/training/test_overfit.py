"""`lalm-train debug=overfit`: the tiny LALM memorises 8 real utterances to WER 0."""

from __future__ import annotations

import json
import re

import pytest

from tests.helpers import run_cli


@pytest.mark.slow
def test_overfit_memorises_eight_utterances_to_wer_zero(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli(
        "lalm-train",
        ["debug=overfit", "logger=none", f"hydra.run.dir={run_dir}"],
        cwd=tmp_path,
        timeout=300,
        check=True,
    )
    out = proc.stdout + proc.stderr
    wers = [float(w) for w in re.findall(r"val/wer ([\d.]+)%", out)]
    assert wers and wers[-1] == 0.0, out[-2000:]
    metrics = json.loads((run_dir / "run.json").read_text())["metrics"]
    assert metrics["val/wer"] == 0.0
    # stopped as soon as memorised, long before max_epochs=400
    assert metrics["global_step"] < 400
