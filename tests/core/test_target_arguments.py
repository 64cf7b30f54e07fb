"""Arguments of every `_target_` the runner builds are checked against its signature before launch:
callbacks, loggers, trainer plugins and nodes nested in them (issue 19 §4), dry runs included."""

from __future__ import annotations

from pathlib import Path

import pytest

from lalm_framework import compose
from lalm_framework.config.validate import validate
from lalm_framework.errors import UserError
from tests.helpers import run_cli

DIGITS = ["experiment=digits", "logger=none"]
EARLY = "+callbacks.x._target_=pytorch_lightning.callbacks.EarlyStopping"
SLURM_ENV = "lightning_fabric.plugins.environments.SLURMEnvironment"


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ([EARLY, "+callbacks.x.monitr=val/loss"], "callbacks.x.monitr: EarlyStopping takes no argument 'monitr'"),
        (["callbacks=default", "+callbacks.model_checkpoint.save_topk=2"], "Did you mean 'save_top_k'?"),
        (["logger=csv", "+logger.csv.sav_dir=x"], "logger.csv.sav_dir: CSVLogger takes no argument"),
        (["+trainer.plugins=[{_target_: " + SLURM_ENV + ", auto_requeu: false}]"], "trainer.plugins[0].auto_requeu"),
        ([EARLY, "+callbacks.x.monitor=val/loss", "+callbacks.x.patience=abc"], "callbacks.x.patience='abc'"),
        (  # a `_target_` node inside a callback's argument
            [
                "+callbacks.x._target_=pytorch_lightning.callbacks.LambdaCallback",
                "+callbacks.x.on_fit_start._target_=pytorch_lightning.callbacks.EarlyStopping",
                "+callbacks.x.on_fit_start.monitr=val/loss",
            ],
            "callbacks.x.on_fit_start.monitr",
        ),
    ],
)
def test_a_wrong_argument_anywhere_is_refused_naming_the_key(overrides: list[str], words: str) -> None:
    cfg = compose([*DIGITS, *overrides])
    with pytest.raises(UserError) as e:
        validate(cfg)
    assert words in str(e.value)


def test_valid_nodes_pass() -> None:
    validate(compose([*DIGITS, "callbacks=default", "logger=csv", EARLY, "+callbacks.x.monitor=val/loss"]))


@pytest.mark.parametrize("multirun", [False, True])
def test_a_dry_run_refuses_a_misspelt_callback_argument(tmp_path: Path, multirun: bool) -> None:
    sweep = ["-m", "lr=0.1,0.2"] if multirun else []
    proc = run_cli("lalm-train", [*sweep, *DIGITS, EARLY, "+callbacks.x.monitr=val/loss", "dry_run=true"], tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    line = next(ln for ln in proc.stderr.splitlines() if "monitr" in ln and "Job #" not in ln)
    assert "callbacks.x.monitr" in line and "Its arguments:" in line and "monitor, patience" in line
    assert "nothing was launched (dry_run=true)" not in proc.stdout
