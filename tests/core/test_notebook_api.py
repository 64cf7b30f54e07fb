"""Notebooks and scripts: compose, resolve and run in a plain Python process (no Hydra app)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import hydra
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

import lalm_framework
from tests.helpers import REPO, cli_env, run_cli


def test_compose_resolves_outside_hydra(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = lalm_framework.compose(overrides=["experiment=digits"])
    text = OmegaConf.to_yaml(cfg, resolve=True)  # before: "HydraConfig was not set" on paths.root_dir
    assert f"root_dir: {tmp_path}\n" in text
    out = Path(cfg.paths.output_dir)
    assert out.parent.parent == tmp_path / "outputs" / "digits"
    assert cfg.paths.checkpoint_dir == str(out / "checkpoints") and cfg.trainer.default_root_dir == str(out)
    assert not out.exists()  # composing creates nothing
    assert lalm_framework.compose(overrides=["experiment=digits"]).paths.output_dir != str(out)  # a fresh dir each


def test_hydra_initialize_left_open_then_ours(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.yaml").write_text("a: 1\n")
    hydra.initialize_config_dir(config_dir=str(conf), version_base=None)  # a notebook cell: never closed
    try:
        assert hydra.compose(config_name="config").a == 1
        cfg = lalm_framework.compose(overrides=["experiment=digits"])  # before: GlobalHydra is already initialized
        assert cfg.model._target_ == "lalm_framework.digits.model.DigitsClassifier"
        assert hydra.compose(config_name="config").a == 1  # the user's context is back
    finally:
        GlobalHydra.instance().clear()


def test_run_from_a_script_with_ours_or_hydras_compose(tmp_path):
    script = """
import json, lalm_framework
from hydra import compose, initialize
quiet = ["experiment=digits", "trainer.max_epochs=1", "logger=none", "trainer.enable_progress_bar=false",
         "trainer.enable_model_summary=false"]
# the blog's optimizer-in-the-model form, built by the module in configure_optimizers
cfg = lalm_framework.compose(quiet + ["+model.optimizer={_target_:torch.optim.SGD,lr:0.5}"])
first = lalm_framework.run(cfg)
with initialize(config_path=None, version_base="1.3"):
    plain = compose(config_name="train", overrides=quiet)  # Hydra's own compose: no paths set by us
second = lalm_framework.run(plain)
print("RESULT " + json.dumps([first, second, cfg.paths.output_dir]))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, second, out_dir = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert first > 0.5 and second > 0.1
    records = sorted(tmp_path.glob("outputs/digits/*/*/run.json"))
    assert len(records) == 2 and records[0].parent == Path(out_dir)
    for path in records:
        assert json.loads(path.read_text())["attempts"][-1]["status"] == "completed"


def test_cfg_job_resolve(tmp_path):
    proc = run_cli("lalm-train", ["--cfg", "job", "--resolve", "experiment=digits"], tmp_path)
    assert proc.returncode == 0, proc.stderr  # before: InterpolationValidationError
    cfg = OmegaConf.create(proc.stdout)
    assert cfg.paths.root_dir == str(tmp_path)
    assert Path(cfg.paths.output_dir).parent.parent == tmp_path / "outputs" / "digits"


def test_errors_of_a_users_own_hydra_app_are_short(tmp_path):
    project = tmp_path / "proj"
    import shutil

    shutil.copytree(REPO / "examples" / "downstream_project", project)
    for bad, words in (
        ("trainer.ckpt_path=nope.ckpt", ["trainer.ckpt_path", "nope.ckpt"]),  # raised inside the job
        ("dataset.batch_size=abc", ["dataset.batch_size", "Integer"]),  # the user's dataclass, at composition
        ("trainer.max_epoch=3", ["max_epochs", "Did you mean"]),  # our schema, at composition
    ):
        proc = subprocess.run(
            [sys.executable, "train_app.py", bad], cwd=project, env=cli_env(), capture_output=True, text=True
        )
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 15, proc.stderr
        assert all(w in proc.stderr for w in words), proc.stderr
