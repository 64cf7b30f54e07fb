"""The run record: what ran, where, with what; no secrets anywhere in the job dir."""

import json
import subprocess

from tests.helpers import run_cli

SECRET = "wandb-secret-0123456789abcdef"
TYPED = "hf_" + "Ab3" * 12  # a Hugging Face token typed literally on the command line


def test_run_record_and_no_secret_leak(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(
        ["git", "-c", "user.email=a@b", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x"],
        cwd=tmp_path,
        check=True,
    )
    run_dir = tmp_path / "run"
    # the secret reaches the config through an interpolation and the command line
    args = [
        "experiment=digits",
        "trainer.max_epochs=1",
        f"hydra.run.dir={run_dir}",
        "logger=[tensorboard,csv]",
        "tags=[${oc.env:WANDB_API_KEY}," + SECRET + "]",
        f"+note={TYPED}",
    ]
    proc = run_cli("lalm-train", args, tmp_path, env={"WANDB_API_KEY": SECRET})
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((run_dir / "run.json").read_text())
    assert len(record["git"]["commit"]) == 40 and record["git"]["dirty"] is False
    assert record["command"][0] == "lalm-train"
    assert "trainer.max_epochs=1" in record["overrides"]
    assert record["config"]["trainer"]["max_epochs"] == 1
    assert record["versions"]["pytorch-lightning"] and record["host"]
    assert record["metrics"]["val/acc"] > 0.1
    assert record["config"]["tags"] == ["***", "***"]
    assert record["config"]["note"] == "***" and "+note=***" in record["overrides"]
    for path in run_dir.rglob("*"):
        if path.is_file():
            for secret in (SECRET, TYPED):
                assert secret.encode() not in path.read_bytes(), f"secret leaked into {path}"
    assert SECRET not in proc.stdout + proc.stderr and TYPED not in proc.stdout + proc.stderr


def test_overrides_are_recorded_as_typed_not_resolved():
    """An override holding `${...}` (the Optuna pruning callback's) is kept verbatim: the resumed
    sweep matches a job's run.json to its trial by these strings."""
    from omegaconf import OmegaConf

    from lalm_framework.utils.plain_data import typed_overrides

    cfg = OmegaConf.create({"trial": {"n": 3}, "task": ["++cb={n:${trial.n}}", "lr=0.1"]})
    assert list(cfg.task)[0] == "++cb={n:3}"  # what iterating Hydra's ListConfig gives
    assert typed_overrides(cfg.task) == ["++cb={n:${trial.n}}", "lr=0.1"]
    assert typed_overrides(["a=1"]) == ["a=1"] and typed_overrides(None) == []
