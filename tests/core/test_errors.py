"""Every user mistake: exit != 0, a short message that names the fix, nothing launched."""

import pytest

from tests.helpers import run_cli

CASES = [
    # (overrides, words the message must contain)
    (["model=digits_mpl"], ["digits_mlp", "Available options"]),  # unknown group option
    (["trainer.max_epoch=3"], ["max_epochs", "Did you mean"]),  # mistyped key
    (["lrr=0.1"], ["'lr'", "Did you mean"]),  # mistyped top-level key
    (["trainer.max_epochs=abc"], ["trainer.max_epochs", "Integer"]),  # wrong type (schema)
    (["dataset.batch_size=abc"], ["dataset.batch_size", "expects int"]),  # wrong type (user class)
    (["+model.hiden=3"], ["hidden", "Did you mean"]),  # unknown class argument
    (["trainer.max_epochs=???"], ["Missing mandatory value", "trainer.max_epochs"]),
    (["trainer.ckpt_path=nope.ckpt"], ["ckpt_path", "nope.ckpt"]),
    (["mode=maximum"], ["mode", "min", "max"]),
    # keys and flags carried over from other tools
    (["trainer.resume_from_checkpoint=x.ckpt"], ["trainer.ckpt_path"]),  # Lightning 1.x
    (["+trainer.resume_from_checkpoint=x.ckpt"], ["trainer.ckpt_path"]),
    (["--dry-run"], ["dry_run=true"]),
    (["--seed=3"], ["seed=3"]),
]


@pytest.mark.parametrize("overrides,words", CASES, ids=[c[0][0].lstrip("+-") for c in CASES])
def test_short_clear_error(tmp_path, overrides, words):
    proc = run_cli("lalm-train", ["experiment=digits", *overrides], tmp_path)
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 15, err
    for word in words:
        assert word in err, err
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("*.ckpt"))


def test_full_traceback_on_request(tmp_path):
    proc = run_cli("lalm-train", ["experiment=digits", "trainer.max_epoch=3"], tmp_path, env={"HYDRA_FULL_ERROR": "1"})
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_sweep_with_one_bad_job_launches_nothing(tmp_path):
    proc = run_cli("lalm-train", ["-m", "experiment=digits", "dataset.batch_size=16,32,abc"], tmp_path)
    assert proc.returncode != 0
    assert "Job #2" in proc.stderr and "nothing was launched" in proc.stderr
    assert not list(tmp_path.rglob("run.json"))


def test_dry_run_lists_jobs(tmp_path):
    proc = run_cli("lalm-train", ["-m", "experiment=digits", "lr=0.1,0.01", "dry_run=true"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "#0: " in proc.stdout and "#1: " in proc.stdout and "lr=0.01" in proc.stdout
    assert not list(tmp_path.rglob("run.json"))
