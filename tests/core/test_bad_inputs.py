"""The table of bad inputs: each row is a command line a user could type, and what must come back.

Every row must end with its exit code, at most 15 lines on stderr, no traceback, the named
key/file/fix in the message, and (where listed) no trace of a secret. A new case is one row;
`@name@` in an argument is replaced by what the row's `setup` prepared (files, dirs, locks).

Rows marked `slow=True` fail only inside the job's validation, after torch and Lightning load.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import VENV_BIN, read_only_place, run_cli

Setup = Callable[[Path], contextlib.AbstractContextManager[dict[str, str]]]
SECRET = "hf_" + "Zq7" * 11  # a Hugging Face token shape, typed literally on the command line
DIGITS = ("experiment=digits", "logger=none", "trainer.max_epochs=1")


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    words: tuple[str, ...]  # all must appear in stderr
    setup: Setup | None = None
    code: int = 1
    absent: tuple[str, ...] = ()  # must appear nowhere in stdout/stderr
    env: dict[str, str] = field(default_factory=dict)
    cmd: str = "lalm-train"
    slow: bool = False  # reaches the job's validation (imports torch + Lightning): run with -m slow


# --- setups: each yields the @name@ values its row's arguments use -------------------------------


@contextlib.contextmanager
def read_only_dir(tmp: Path) -> Iterator[dict[str, str]]:
    with read_only_place(tmp) as ro:
        yield {"ro": str(ro)}


@contextlib.contextmanager
def a_file(tmp: Path) -> Iterator[dict[str, str]]:
    (tmp / "notes.txt").write_text("a file, not a directory\n")
    yield {"file": str(tmp / "notes.txt")}


@contextlib.contextmanager
def dir_held_by_another_process(tmp: Path) -> Iterator[dict[str, str]]:
    """A run dir whose lock another live process holds (what a running `lalm-train` does)."""
    run = tmp / "busy"
    run.mkdir()
    holder = subprocess.Popen(
        [
            str(VENV_BIN / "python"),
            "-c",
            "import fcntl,os,sys,time; fd=os.open(sys.argv[1],os.O_RDWR|os.O_CREAT); fcntl.flock(fd,fcntl.LOCK_EX);"
            " os.write(fd,b'pid %d on testhost' % os.getpid()); print('held',flush=True); time.sleep(600)",
            str(run / ".lalm.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield {"busy": str(run), "holder": f"pid {holder.pid}"}
    finally:
        holder.kill()
        holder.wait()


def _run_dir_with(files: dict[str, str]) -> Setup:
    @contextlib.contextmanager
    def setup(tmp: Path) -> Iterator[dict[str, str]]:
        run = tmp / "old_run"
        for name, text in files.items():
            (run / name).parent.mkdir(parents=True, exist_ok=True)
            (run / name).write_text(text)
        yield {"run": str(run)}

    return setup


ANOTHER_JOBS_RECORD = json.dumps({"job_key": "0123456789abcdef", "attempts": [{"status": "completed"}]})


def _config_dir(name: str, text: str) -> Setup:
    @contextlib.contextmanager
    def setup(tmp: Path) -> Iterator[dict[str, str]]:
        conf = tmp / "conf" / "experiment"
        conf.mkdir(parents=True)
        (conf / f"{name}.yaml").write_text("# @package _global_\ndefaults:\n  - digits\n" + text)
        yield {"conf": str(tmp / "conf")}

    return setup


@contextlib.contextmanager
def bad_bytes_manifest(tmp: Path) -> Iterator[dict[str, str]]:
    (tmp / "m.jsonl").write_bytes(b'{"audio": "a.flac", "text": "caf\xe9"}\n')
    yield {"manifest": str(tmp / "m.jsonl")}


@contextlib.contextmanager
def garbage_checkpoint(tmp: Path) -> Iterator[dict[str, str]]:
    (tmp / "broken.ckpt").write_bytes(b"PK\x03\x04 this is not a checkpoint" * 10)
    yield {"ckpt": str(tmp / "broken.ckpt")}


CASES = [
    # issue 11 #8: interpolations
    Case("interp-missing-key", (*DIGITS, "lr=${no_such.key}"), ("'lr'", "no_such.key")),
    Case(
        "interp-unset-env", (*DIGITS, "+foo=${oc.env:UNSET_VAR_LALM}"), ("UNSET_VAR_LALM", "${oc.env:UNSET_VAR_LALM,")
    ),
    Case("interp-unclosed", (*DIGITS, "lr=${no_such"), ("lr=${no_such", "not closed")),
    Case("list-unclosed", (*DIGITS, "+foo=[1,2"), ("+foo=[1,2", "not closed")),
    Case("interp-unknown-resolver", (*DIGITS, "+foo=${nores:1}"), ("'foo'", "nores")),
    Case("interp-typed-field-unset-env", (*DIGITS, "trainer.max_epochs=${oc.env:NO_EPOCHS_LALM}"), ("NO_EPOCHS_LALM",)),
    Case(
        "yaml-unclosed-interp",
        ("--config-dir", "@conf@", "experiment=broken", "logger=none"),
        ("'lr'", "${oops", "Close every"),
        setup=_config_dir("broken", "lr: ${oops\n"),
    ),
    Case(
        "yaml-syntax",
        ("--config-dir", "@conf@", "experiment=broken", "logger=none"),
        ("broken.yaml", "line 5"),
        setup=_config_dir("broken", "lr: 1\n  x: 2\n"),
    ),
    Case("override-no-equals", (*DIGITS, "+note=hello", "world"), ("'world'", "key=value")),
    Case("override-double-equals", (*DIGITS, "trainer.max_epochs==3"), ("trainer.max_epochs==3",)),
    # issue 11 #5: int-or-float trainer fields keep their type, and a wrong one is named
    Case("limit-batches-wrong-type", (*DIGITS, "trainer.limit_train_batches=abc"), ("trainer.limit_train_batches",)),
    Case("fast-dev-run-wrong-type", (*DIGITS, "trainer.fast_dev_run=abc"), ("trainer.fast_dev_run",)),
    # issue 11 #13: output dirs
    Case("run-dir-read-only", (*DIGITS, "hydra.run.dir=@ro@/run"), ("@ro@/run", "hydra.run.dir"), setup=read_only_dir),
    Case("run-dir-is-read-only", (*DIGITS, "hydra.run.dir=@ro@"), ("@ro@", "hydra.run.dir"), setup=read_only_dir),
    Case("run-dir-parent-is-file", (*DIGITS, "hydra.run.dir=@file@/run"), ("@file@", "not a directory"), setup=a_file),
    Case(
        "sweep-dir-parent-is-file",
        ("-m", *DIGITS, "lr=0.1,0.2", "hydra.sweep.dir=@file@/sweep"),
        ("@file@", "hydra.sweep.dir"),
        setup=a_file,
    ),
    # issue 11 #14: no GPU
    Case(
        "gpu-trainer-no-gpu",
        (*DIGITS, "trainer=gpu"),
        ("no GPU is visible", "CUDA_VISIBLE_DEVICES=''", "trainer=cpu"),
        env={"CUDA_VISIBLE_DEVICES": ""},
    ),
    Case(
        "ddp-on-gpu-no-gpu",
        (*DIGITS, "trainer=ddp", "trainer.accelerator=gpu"),
        ("no GPU is visible", "trainer=cpu"),
        slow=True,
    ),
    Case(
        "deepspeed-no-gpu",
        (*DIGITS, "trainer=ddp", "trainer.strategy=deepspeed"),
        ("trainer.strategy=deepspeed", "trainer=cpu"),
        slow=True,
    ),
    # issue 22: FSDP runs on CPUs, but not with combinations it cannot serve
    Case(
        "fsdp-with-4bit",
        ("model=whisper_llama_qlora", "trainer=fsdp", "logger=none"),
        ("load_in_4bit=true", "trainer=ddp"),
    ),
    Case(
        "fsdp-sharded-state-dict",
        (*DIGITS, "trainer=fsdp", "+trainer.strategy.state_dict_type=sharded"),
        ("state_dict_type", "full"),
    ),
    Case(
        "fsdp-unknown-sharding",
        (*DIGITS, "trainer=fsdp", "trainer.strategy.sharding_strategy=FULL"),
        ("sharding_strategy=FULL", "FULL_SHARD"),
    ),
    Case("sweep-gpu-no-gpu", ("-m", *DIGITS, "trainer=gpu", "lr=0.1,0.2"), ("Job #0", "no GPU is visible"), slow=True),
    # issue 11 #4: a secret typed on the command line never reaches the console (files: test_faults_secrets)
    Case(
        "secret-in-failed-run",
        (*DIGITS, f"+note={SECRET}", "trainer.ckpt_path=nope.ckpt"),
        ("nope.ckpt", "+note=***"),
        absent=(SECRET,),
        slow=True,  # the same run, files included, is in test_faults_secrets.py
    ),
    Case("secret-as-bad-value", (*DIGITS, f"trainer.max_epochs={SECRET}"), ("trainer.max_epochs",), absent=(SECRET,)),
    Case(
        "secret-in-bad-sweep",
        ("-m", *DIGITS, f"+wandb_api_key={'f' * 40}", "dataset.batch_size=16,abc"),
        ("Job #1", "wandb_api_key=***"),
        absent=("f" * 40,),
        slow=True,
    ),
    # resume only the same job; one process per job dir
    Case(
        "run-dir-of-another-job",
        (*DIGITS, "hydra.run.dir=@run@"),
        ("holds another job", "trainer.ckpt_path=@run@/checkpoints/last.ckpt"),
        setup=_run_dir_with({"run.json": ANOTHER_JOBS_RECORD}),
    ),
    Case(
        "run-dir-corrupt-record",
        (*DIGITS, "hydra.run.dir=@run@"),
        ("@run@/run.json", "not valid JSON"),
        setup=_run_dir_with({"run.json": '{"attempts": [trunc'}),
    ),
    Case(
        "run-dir-checkpoints-without-record",
        (*DIGITS, "hydra.run.dir=@run@"),
        ("no run.json", "trainer.ckpt_path"),
        setup=_run_dir_with({"checkpoints/last.ckpt": "x"}),
    ),
    Case(
        "run-dir-in-use",
        (*DIGITS, "hydra.run.dir=@busy@"),
        ("Another process", "@holder@", "hydra.run.dir"),
        setup=dir_held_by_another_process,
    ),
    # more of the class: what a new user types
    Case("unknown-trainer-argument", (*DIGITS, "+trainer.foo=1"), ("foo",), slow=True),
    Case("zero-devices", (*DIGITS, "trainer.devices=0"), ("devices",), slow=True),
    Case("negative-epochs", (*DIGITS, "trainer.max_epochs=-5"), ("max_epochs",), slow=True),
    Case(
        "unknown-launcher", ("-m", *DIGITS, "hydra/launcher=nope", "lr=0.1,0.2"), ("hydra/launcher/nope", "lalm_pool")
    ),
    Case("empty-group-choice", (*DIGITS, "model="), ("model", "digits_mlp")),
    Case("list-into-number", (*DIGITS, "trainer.val_check_interval=[1,2]"), ("trainer.val_check_interval",)),
    Case("batch-size-zero", (*DIGITS, "dataset.batch_size=0"), ("batch_size",), slow=True),
    Case(
        "sweep-count-out-of-range",
        ("-m", *DIGITS, "trainer.accumulate_grad_batches=0", "lr=0.1,0.2"),
        ("trainer.accumulate_grad_batches=0", "at least 1"),
    ),
    Case(
        "wandb-without-key",
        (*DIGITS, "logger=wandb"),
        ("WANDB_API_KEY", "logger="),
        env={"WANDB_MODE": "online", "WANDB_API_KEY": ""},
        slow=True,
    ),
    Case(
        "optuna-tag-on-choice",
        ("-m", *DIGITS, "hydra/sweeper=lalm_optuna", "lr=tag(log, choice(1e-5, 1e-3))"),
        ("tag", "choice"),
    ),
    Case(
        "pool-negative-retries",
        ("-m", *DIGITS, "hydra/launcher=lalm_pool", "hydra.launcher.max_retries=-1", "lr=0.1,0.2"),
        ("max_retries",),
    ),
    Case(
        "manifest-not-utf8",
        ("dataset=jsonl", "dataset.train_manifest=@manifest@", "dataset.val_manifest=@manifest@", "logger=none"),
        ("@manifest@:1", "UTF-8"),
        setup=bad_bytes_manifest,
        slow=True,
    ),
    Case(
        "corrupt-ckpt-path",
        (*DIGITS, "trainer.ckpt_path=@ckpt@"),
        ("@ckpt@",),
        setup=garbage_checkpoint,
        slow=True,
    ),
    # issue 19 §5: a callback monitoring a val/ metric in a run where no validation runs
    Case(
        "no-val-batches-early-stopping",
        (*DIGITS, "trainer.limit_val_batches=0", "callbacks=[default,early_stopping]"),
        (
            "callbacks.early_stopping",
            "'val/acc'",
            "trainer.limit_val_batches=0",
            "callbacks.early_stopping.monitor=train/loss",
        ),
        slow=True,
    ),
    Case(
        "val-after-last-epoch-checkpoint",
        (
            *DIGITS,
            "trainer.check_val_every_n_epoch=3",
            "+callbacks.best._target_=pytorch_lightning.callbacks.ModelCheckpoint",
            "+callbacks.best.monitor=val/loss",
        ),
        ("callbacks.best", "'val/loss'", "check_val_every_n_epoch=3", "max_epochs=1", "Enable validation"),
        slow=True,
    ),
    Case(
        "no-val-user-callback-default-monitor",
        (
            *DIGITS,
            "trainer.limit_val_batches=0.0",
            "+callbacks.keep._target_=tests.core.monitor_components.KeepBestOnVal",
        ),
        ("callbacks.keep", "KeepBestOnVal", "'val/loss'", "callbacks.keep.monitor=train/loss"),
        slow=True,
    ),
    Case(
        "no-val-sets-early-stopping",
        (
            *DIGITS,
            "dataset._target_=tests.core.monitor_components.TrainOnlyDigits",
            "callbacks=[default,early_stopping]",
        ),
        ("callbacks.early_stopping", "TrainOnlyDigits defines no val_dataloader"),
        slow=True,
    ),
    Case(
        "sweep-no-val-early-stopping",
        ("-m", *DIGITS, "trainer.limit_val_batches=0", "callbacks=[default,early_stopping]", "lr=0.1,0.2"),
        ("Job #0", "callbacks.early_stopping", "'val/acc'", "nothing was launched"),
        slow=True,
    ),
    Case(
        "slurm-tools-missing",
        ("-m", *DIGITS, "hydra/launcher=slurm_cpu", "lr=0.1,0.2"),
        ("SLURM", "lalm_pool"),
        env={"PATH": str(VENV_BIN)},
    ),
]


def _marks(case: Case) -> list[pytest.MarkDecorator]:
    return [pytest.mark.slow] if case.slow else []


def _params() -> list[object]:
    return [pytest.param(c, id=c.id, marks=_marks(c)) for c in CASES]


def _fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    return text


@pytest.mark.parametrize("case", _params())
def test_bad_input(tmp_path: Path, case: Case) -> None:
    setup = case.setup(tmp_path) if case.setup else contextlib.nullcontext({})
    with setup as values:
        before = set(tmp_path.rglob("*.ckpt"))
        args = [_fill(a, values) for a in case.args]
        proc = run_cli(case.cmd, args, tmp_path, env=case.env, timeout=300)
        trained = set(tmp_path.rglob("*.ckpt")) - before
    err = proc.stderr.strip()
    assert proc.returncode == case.code, f"exit {proc.returncode}:\n{err[-3000:]}"
    assert "Traceback" not in err, err[-3000:]
    assert len(err.splitlines()) <= 15, err
    for word in case.words:
        assert _fill(word, values) in err, f"{_fill(word, values)!r} not in:\n{err}"
    for secret in case.absent:
        assert secret not in proc.stdout + proc.stderr
    assert not trained, f"a bad input trained a model: {trained}"


def test_rows_have_unique_ids() -> None:
    assert len({c.id for c in CASES}) == len(CASES)
