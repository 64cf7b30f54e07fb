"""Secrets: what counts as one (lalm_framework.redaction), and that none reaches a file or the console.

The "today" case of issue 11 #4: a token typed literally on the command line of a run that fails
validation was written to .hydra/overrides.yaml, hydra.yaml, config.yaml and the console.
"""

from __future__ import annotations

import pytest

from lalm_framework.redaction import MASK, Redactor, is_secret_env_name, is_secret_key
from tests.helpers import run_cli

HF = "hf_" + "Ab3" * 12
OPENAI = "sk-proj-" + "x9Y" * 10
WANDB = "0123456789abcdef" * 2 + "01234567"  # 40 hex digits: a W&B key, also the shape of a git commit


@pytest.mark.parametrize(
    "name,secret",
    [
        ("api_key", True),
        ("logger.wandb.api_key", True),
        ("hf_token", True),
        ("token", True),
        ("access_token", True),
        ("password", True),
        ("db_password", True),
        ("client_secret", True),
        ("secret_key", True),
        ("aws_secret_access_key", True),
        ("private_key", True),
        ("apiKey", True),
        ("authToken", True),
        ("text_key", False),
        ("audio_key", False),
        ("pad_token", False),
        ("eos_token", False),
        ("max_new_tokens", False),
        ("num_key_value_heads", False),
        ("tokenizer", False),
        ("monitor", False),
        ("author", False),
    ],
)
def test_which_config_keys_name_secrets(name, secret):
    assert is_secret_key(name) is secret


@pytest.mark.parametrize(
    "name,secret",
    [
        ("WANDB_API_KEY", True),
        ("HF_TOKEN", True),
        ("HUGGING_FACE_HUB_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("OPENAI_APIKEY", True),
        ("PGPASSWORD", True),
        ("DB_PASSWORD", True),
        ("LALM_TOKENIZER_PATH", False),
        ("PWD", False),
        ("KEYBOARD_LAYOUT", False),
    ],
)
def test_which_environment_variables_hold_secrets(name, secret):
    assert is_secret_env_name(name) is secret


def test_token_shapes_are_masked_anywhere_and_nothing_else():
    r = Redactor.create(environ={})
    text = (
        f"note={HF} key {OPENAI} gh ghp_{'a1' * 18} aws AKIAABCDEFGHIJKLMNOP "
        f"url postgresql://me:hunter22@db/x jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4f"
    )
    masked = r.text(text)
    for secret in (HF, OPENAI, "ghp_", "AKIAABCDEFGHIJKLMNOP", "hunter22", "eyJhbGci"):
        assert secret not in masked, masked
    keep = f"commit {WANDB} /data/disk-abcdefghijklmnopqrstuvwxyz0123 lr=0.001 max_new_tokens=16 run-sk-12"
    assert r.text(keep) == keep


def test_named_values_are_masked_in_data_text_and_overrides_but_lookalikes_stay():
    config = {"logger": {"api_key": WANDB, "name": "x"}, "model": {"tokenizer": {"pad_token": "<pad>"}}, "k": 16}
    r = Redactor.create(config, [f"+wandb_api_key={WANDB}"], environ={"HF_TOKEN": HF})
    data = r.data({"config": config, "tags": [WANDB, HF], "commit": "f" * 40})
    assert data["config"]["logger"] == {"api_key": MASK, "name": "x"}
    assert data["config"]["model"]["tokenizer"] == {"pad_token": "<pad>"} and data["config"]["k"] == 16
    assert data["tags"] == [MASK, MASK] and data["commit"] == "f" * 40
    assert r.text("- +api_key=short\n- a=1,+hf_token=abc\n") == "- +api_key=***\n- a=1,+hf_token=***\n"
    assert r.text("logger:\n  api_key: short\n  text_key: text\n") == "logger:\n  api_key: '***'\n  text_key: text\n"


def test_masked_yaml_stays_yaml():
    import yaml

    text = f"note: {HF}\ntags:\n- {HF}\n- x\nmsg: {HF} and more\nquoted: '{HF}'\nk: 1\n"
    assert yaml.safe_load(Redactor.create(environ={}).yaml(text)) == {
        "note": MASK,
        "tags": [MASK, "x"],
        "msg": f"{MASK} and more",
        "quoted": MASK,
        "k": 1,
    }


def test_secrets_of_a_run_that_fails_validation_reach_no_file_and_not_the_console(tmp_path):
    run = tmp_path / "run"
    args = [
        "experiment=digits",
        "logger=none",
        f"hydra.run.dir={run}",
        f"+note={HF}",  # a token shape, under an ordinary key
        f"+wandb_api_key={WANDB}",  # a credential-named key
        "+hub.password=pw-1",  # short, but named: masked where its key names it
        "trainer.ckpt_path=missing.ckpt",  # fails validation inside the job, after Hydra saved .hydra/
    ]
    proc = run_cli("lalm-train", args, tmp_path)
    assert proc.returncode == 1 and "missing.ckpt" in proc.stderr
    assert (run / ".hydra" / "config.yaml").is_file()
    for secret in (HF, WANDB):
        assert secret not in proc.stdout + proc.stderr
        for path in run.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), f"{secret[:6]}... leaked into {path}"
    assert "pw-1" not in (run / ".hydra" / "config.yaml").read_text()
    assert "+note=***" in (run / ".hydra" / "overrides.yaml").read_text()
    # Hydra's saved config still loads (a masked value is quoted YAML) and keeps everything else
    from omegaconf import OmegaConf

    saved = OmegaConf.load(run / ".hydra" / "config.yaml")
    assert saved.note == MASK and saved.trainer.ckpt_path == "missing.ckpt"
