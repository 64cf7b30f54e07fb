"""Secrets on every path out of a run, a sweep or an export: planted, then grepped for everywhere.

Each test plants secrets of every kind (a credential-named key, an `hf_...` token under an ordinary
key, a URL password, a credential-named environment variable interpolated into the config, and the
message of a failing user callback), runs as a user would, then reads every file under the run,
sweep and export dirs (optuna.db and the checkpoints' bytes too, and each checkpoint unpickled), and
the console. Issue 19 §1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lalm_framework.redaction import MASK
from tests.core.secret_callbacks import CALLBACK_PW, CALLBACK_TOKEN
from tests.helpers import REPO, run_cli

HF = "hf_" + "Zq4" * 12
DB_PW = "dbPw-9137x"
URL_PW = "urlPw-55120"
ENV_TOKEN = "envTok-48213"
API_TOKEN = "apiTok-30917"
SECRETS = (HF, DB_PW, URL_PW, ENV_TOKEN, API_TOKEN, CALLBACK_PW, CALLBACK_TOKEN)
ENV = {"PYTHONPATH": str(REPO), "MY_SERVICE_TOKEN": ENV_TOKEN}
PLANTED = [
    f"+hub.hf_token={HF}",
    f"+db.password={DB_PW}",
    f"+store.url=https://bob:{URL_PW}@host/x",
    "+svc.tok=${oc.env:MY_SERVICE_TOKEN}",
]
FAILING = "+callbacks.up._target_=tests.core.secret_callbacks.FailingUpload"
QUIET = ["logger=none", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def _leaks(text: str) -> list[str]:
    return [s[:8] for s in SECRETS if s in text]


def assert_nothing_leaked(console: str, *dirs: Path) -> int:
    """No secret in `console`, in any file under `dirs` (bytes), nor in any string of a checkpoint."""
    assert not _leaks(console), f"{_leaks(console)} on the console:\n{console[-3000:]}"
    files = [p for d in dirs for p in Path(d).rglob("*") if p.is_file()]
    for path in files:
        data = path.read_bytes()
        leaked = [s[:8] for s in SECRETS if s.encode() in data]
        assert not leaked, f"{leaked} leaked into {path}"
        if path.suffix == ".ckpt":
            import torch

            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            assert not _leaks(repr(_strings(checkpoint))), f"{path} holds a secret"
    return len(files)


def _strings(obj):
    if isinstance(obj, dict):
        return {str(k): _strings(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strings(v) for v in obj]
    return obj if isinstance(obj, (str, int, float, bool)) or obj is None else type(obj).__name__


@pytest.mark.slow
def test_no_secret_in_a_tiny_run_its_checkpoints_and_its_export(tmp_path):
    run = tmp_path / "run"
    args = [
        "experiment=tiny",
        "logger=csv",  # the CSV logger writes the logged hyperparameters to hparams.yaml
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "model.wer_every_n_val=0",
        f"hydra.run.dir={run}",
        f"+model.llm.config.api_token={API_TOKEN}",  # the found case: reached export and both .ckpt
        *PLANTED,
    ]
    proc = run_cli("lalm-train", args, tmp_path, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    checkpoints = sorted((run / "checkpoints").glob("*.ckpt"))
    assert len(checkpoints) == 2
    export = tmp_path / "export"
    exported = run_cli("lalm-export", [str(run / "checkpoints" / "last.ckpt"), str(export)], tmp_path, env=ENV)
    assert exported.returncode == 0, exported.stderr[-3000:]
    console = proc.stdout + proc.stderr + exported.stdout + exported.stderr
    assert assert_nothing_leaked(console, run, export) > 5
    import json

    meta = json.loads((export / "lalm_config.json").read_text())
    assert meta["model"]["llm"]["config"]["api_token"] == MASK  # masked, the rest of the config kept
    assert meta["model"]["llm"]["config"]["hidden_size"] == 96
    # the masked checkpoint still loads and exports a working model
    from lalm_framework.inference.pretrained import load_pretrained
    from lalm_framework.samples import SAMPLE_ROOT

    audio = sorted(p for p in (SAMPLE_ROOT / "dev").rglob("*") if p.suffix in (".wav", ".flac"))[:1]
    assert len(load_pretrained(export).transcribe([str(a) for a in audio])) == 1


@pytest.mark.slow
def test_a_failing_user_callback_prints_its_message_masked(tmp_path):
    run = tmp_path / "run"
    args = ["experiment=digits", *QUIET, f"hydra.run.dir={run}", FAILING, *PLANTED]
    proc = run_cli("lalm-train", args, tmp_path, env=ENV)
    assert proc.returncode == 1
    assert f"upload to https://bob:{MASK}@host failed (token {MASK})" in proc.stderr, proc.stderr[-2000:]
    assert_nothing_leaked(proc.stdout + proc.stderr, run)
    # HYDRA_FULL_ERROR=1: the whole traceback, masked as well
    full = run_cli(
        "lalm-train",
        [*args[:2], *args[3:], f"hydra.run.dir={tmp_path / 'full'}"],
        tmp_path,
        env={**ENV, "HYDRA_FULL_ERROR": "1"},
    )
    assert full.returncode == 1 and "Traceback" in full.stderr and "on_train_start" in full.stderr
    assert_nothing_leaked(full.stdout + full.stderr, tmp_path / "full")


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "lalm_pool"])
def test_no_secret_in_a_sweep_with_a_failing_job(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "experiment=digits",
        "trainer.max_epochs=1",
        *QUIET,
        f"hydra/launcher={launcher}",
        f"hydra.sweep.dir={sweep}",
        FAILING,
        "+callbacks.up.fail=true,false",
        *PLANTED,
    ]
    proc = run_cli("lalm-train", args, tmp_path, env=ENV)
    console = proc.stdout + proc.stderr
    assert proc.returncode == 1 and f"https://bob:{MASK}@host failed" in console, console[-3000:]
    assert "hub.hf_token=***" in console  # the launch lines, masked, still say what ran
    assert_nothing_leaked(console, sweep)
    if launcher == "lalm_pool":
        assert f"bob:{MASK}@host" in (sweep / "0" / "job_output.log").read_text()


@pytest.mark.slow
def test_no_secret_in_an_optuna_sweep_its_database_and_trials_csv(tmp_path):
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "experiment=digits",
        "trainer.max_epochs=1",
        *QUIET,
        "hydra/sweeper=lalm_optuna",
        "hydra/sweeper/sampler=grid",
        "hydra.sweeper.n_jobs=1",
        "hydra.sweeper.plots=false",
        f"hydra.sweep.dir={sweep}",
        FAILING,
        "+callbacks.up.fail=choice(true,false)",
        *PLANTED,
    ]
    proc = run_cli("lalm-train", args, tmp_path, env=ENV)
    console = proc.stdout + proc.stderr
    assert "FAIL" in console and (sweep / "trials.csv").is_file(), console[-3000:]
    assert_nothing_leaked(console, sweep)
    import optuna

    study = optuna.load_study(study_name=None, storage=f"sqlite:///{next(sweep.glob('*.db'))}")
    (failed,) = [t for t in study.trials if t.state.name == "FAIL"]
    assert f"bob:{MASK}@host" in failed.user_attrs["fail_reason"]
    assert f"+db.password={MASK}" in failed.user_attrs["overrides"]


def test_an_unreachable_tracking_server_is_one_short_message_without_its_password(tmp_path):
    args = ["experiment=digits", "logger=mlflow", f"logger.mlflow.tracking_uri=http://u:{URL_PW}@127.0.0.1:9"]
    proc = run_cli("lalm-train", [*args, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, timeout=120)
    assert proc.returncode == 1
    assert "tracking server http://u:***@127.0.0.1:9 cannot be reached" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 5 and "Traceback" not in proc.stderr, proc.stderr
    assert not _leaks(proc.stdout + proc.stderr)


def test_cfg_job_masks_secrets_unless_asked_to_show_them(tmp_path):
    args = ["experiment=digits", *PLANTED, "--cfg", "job"]
    shown = run_cli("lalm-train", args, tmp_path, env=ENV)
    assert shown.returncode == 0
    assert not _leaks(shown.stdout + shown.stderr), shown.stdout
    assert f"url: https://bob:{MASK}@host/x" in shown.stdout and "password: " in shown.stdout
    from omegaconf import OmegaConf

    assert OmegaConf.create(shown.stdout).db.password == MASK  # still YAML
    plain = run_cli("lalm-train", args, tmp_path, env={**ENV, "LALM_SHOW_SECRETS": "1"})
    assert HF in plain.stdout and DB_PW in plain.stdout and URL_PW in plain.stdout


def test_the_process_masks_what_it_logs_and_prints():
    """In-process: a log record (with a traceback) and a stream write are masked as they leave."""
    import io
    import logging

    from lalm_framework import masking

    masking.learn({"db": {"password": DB_PW}})
    raw = io.StringIO()
    stream = masking.MaskedStream(raw)
    stream.write(f"half of a line with {DB_PW[:4]}")
    stream.write(f"{DB_PW[4:]} and https://a:{URL_PW}@h\n")
    assert raw.getvalue() == f"half of a line with {MASK} and https://a:{MASK}@h\n"
    masking.guard()
    handler = logging.StreamHandler(out := io.StringIO())
    log = logging.getLogger("lalm-test-masking")
    log.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"token {HF}")
        except RuntimeError:
            log.exception("failed with %s", DB_PW)
    finally:
        log.removeHandler(handler)
    assert MASK in out.getvalue() and not _leaks(out.getvalue()), out.getvalue()
    os.environ.pop(masking.SHOW_ENV, None)
