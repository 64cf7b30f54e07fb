"""Every command of the README's "Everyday use" block runs, from a fresh directory, as a user types it.

The block is read from README.md, so a line added or changed there is tested as it stands. Lines
that would train for long or submit (sweeps, SLURM, GPU presets, experiment loggers) run with
`dry_run=true`, which still composes and lists every job; the rest run for real on tiny work. A
small real training run first gives the `outputs/.../` checkpoint the later lines use, and
placeholders a user replaces (`/data/LibriSpeech`, `./conf`) are made real in the temp dir.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli

pytestmark = pytest.mark.slow  # ~17 commands, a few tiny trainings: minutes on 2 cores

SAMPLE = REPO / "lalm_framework" / "samples" / "speech"
# a lalm-train line with any of these would train for long, submit or need a GPU: list its jobs only
DRY = ("-m", "hydra/launcher=", "hparams_search=", "logger=", "trainer=gpu", "model=whisper_llama")
# a dry run validates like the launch: on a machine without a GPU or a W&B key, such a line ends in
# this one-line refusal naming the fix (the config composed; only this machine lacks the part)
MACHINE_REFUSALS = ("or run on a machine with a GPU.", "Put your key in the environment variable WANDB_API_KEY")


def everyday_commands() -> list[list[str]]:
    """The commands of README.md's "Everyday use" block, comments dropped."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Everyday use", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README.md: no ```bash block under '## Everyday use'"
    return [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.strip()]


def _needs_dry_run(argv: list[str]) -> bool:
    if argv[0] != "lalm-train" or {"--cfg", "-c", "--help", "-h"} & set(argv):
        return False  # prints, runs nothing
    return any(a == d or a.startswith(d) for a in argv[1:] for d in DRY)


def _job_dir(cwd: Path) -> Path:
    # the fixture's run is the first; later lines (a rerun of its saved config) add runs of their own
    first = sorted(cwd.glob("outputs/train/*/*/checkpoints/last.ckpt"))[0]
    return first.parents[1]


def _concrete(argv: list[str], cwd: Path, job_dir: Path) -> list[str]:
    """The README's placeholders made real: the earlier run's dir, LibriSpeech-layout data."""
    out = []
    for arg in argv:
        arg = re.sub(r"outputs/\.\.\./(?=last\.ckpt)", f"{job_dir}/checkpoints/", arg)
        arg = arg.replace("outputs/.../", f"{job_dir}/").replace("outputs/train/.../", f"{job_dir}/")
        out.append(arg.replace("/data/LibriSpeech", str(cwd / "LibriSpeech")))
    return out


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh dir with one tiny real run (its checkpoint is `outputs/.../`), data and a conf dir."""
    cwd = tmp_path_factory.mktemp("readme")
    run_cli("lalm-train", ["debug=limit_batches", "trainer.max_epochs=1"], cwd, check=True)
    libri = cwd / "LibriSpeech"  # the bundled set is in LibriSpeech layout; the split names differ
    libri.mkdir()
    for ours, theirs in (("train", "train-clean-100"), ("dev", "dev-clean"), ("test", "test-clean")):
        (libri / theirs).symlink_to(SAMPLE / ours)
    (cwd / "conf" / "model").mkdir(parents=True)
    (cwd / "conf" / "model" / "my_tiny.yaml").write_text("defaults:\n  - tiny\n  - _self_\n")
    return cwd


def test_the_block_is_found_and_names_our_tools() -> None:
    commands = everyday_commands()
    assert len(commands) >= 10
    assert {c[0] for c in commands} <= {
        "lalm-train",
        "lalm-infer",
        "lalm-export",
        "lalm-doctor",
        "lalm-prepare-data",
        "lalm-convert-config",
        "lalm-runs",
    }


@pytest.mark.parametrize("argv", everyday_commands(), ids=lambda a: " ".join(a)[:70])
def test_everyday_command_runs(argv: list[str], user_dir: Path) -> None:
    args = _concrete(argv, user_dir, _job_dir(user_dir))[1:]
    dry = _needs_dry_run(argv)
    if dry and "dry_run=true" not in args:
        args.append("dry_run=true")
    proc = run_cli(argv[0], args, user_dir, timeout=900)
    out = proc.stdout + proc.stderr
    if dry and proc.returncode == 1 and any(r in out for r in MACHINE_REFUSALS):
        assert "Traceback" not in out and len(proc.stderr.strip().splitlines()) <= 4, out[-4000:]
        return
    assert proc.returncode == 0, f"README line failed: {shlex.join(argv)}\n{out[-4000:]}"
    assert "Traceback" not in out, out[-4000:]
    if dry:
        assert "nothing was launched (dry_run=true)" in out
    if argv[0] == "lalm-infer":
        (out_file,) = [Path(user_dir, args[i + 1]) for i, a in enumerate(args) if a == "--out"]
        rows = [json.loads(line) for line in out_file.read_text().splitlines()]
        assert len(rows) == 40 and all("hypothesis" in r for r in rows), rows[:2]
    if argv[0] == "lalm-export":
        assert (user_dir / args[1] / "lalm_config.json").is_file()
    if "train=false" in args:  # evaluating a checkpoint: no training epoch line, one clean console
        assert "epoch 0" not in out and "dirpath has changed" not in out, out[-3000:]
