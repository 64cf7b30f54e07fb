"""hydra-zen projects compose with our typed `train` tree: stores, experiments, launch(), multirun."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, cli_env

APP = Path(__file__).with_name("zen_app.py")


def _launch(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = cli_env({"PYTHONPATH": str(REPO)})
    return subprocess.run([sys.executable, str(APP), *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_zen_configs_run_and_multirun_in_our_tree(tmp_path):
    # before: "Merge error: Builds_Trainer is not a subclass of TrainerConfig", "... not a subclass of TrainConfig"
    proc = _launch(tmp_path, "-m", "trainer=zen_cpu", "experiment=zen_digits", "lr=0.01,0.03")
    assert proc.returncode == 0, proc.stderr[-3000:]
    values = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert len(values) == 2 and all(v > 0.5 for v in values)  # val/acc of each job
    records = sorted(tmp_path.glob("multirun/zen/*/*/*/run.json"))  # our layout, the zen experiment's task
    assert len(records) == 2
    record = json.loads(records[1].read_text())
    assert record["config"]["model"]["hidden"] == 16 and record["config"]["lr"] == 0.03
    assert record["config"]["trainer"]["max_epochs"] == 1 and record["metrics"]["global_step"] == 23


def test_type_errors_are_still_caught_at_compose(tmp_path):
    proc = _launch(tmp_path, "trainer=zen_cpu", "experiment=zen_digits", "trainer.max_epochs=abc")
    assert proc.returncode != 0 and "trainer.max_epochs" in proc.stderr and "Integer" in proc.stderr
    assert not list(tmp_path.rglob("run.json"))
