"""`lalm-train` with the SLURM presets where no cluster is needed (default test run): the docs'
multi-node example, bad launcher options, a machine without SLURM client, the implied `-m`."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, cli_env, run_cli

DOCS = REPO / "docs" / "slurm.md"
TOY = Path(__file__).with_name("toy_app.py")
BARE_PATH = {"PATH": str(Path(sys.executable).parent)}  # python and our console scripts: no SLURM client


def _docs_multi_node_command() -> list[str]:
    """The arguments of the `lalm-train` command in docs/slurm.md's multi-node section."""
    section = DOCS.read_text().split("## Multi-node DDP on GPUs", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    lines = [ln for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    words = shlex.split(" ".join(ln.rstrip("\\ ") for ln in lines))
    assert words[0] == "lalm-train"
    return words[1:]


@pytest.mark.slow  # composes the Whisper + Llama LoRA config twice: ~15 s on an idle machine
def test_docs_multi_node_gpu_example_passes_its_dry_run(tmp_path: Path) -> None:
    args = _docs_multi_node_command()
    proc = run_cli("lalm-train", [*args, "dry_run=true"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resources = next(ln for ln in proc.stdout.splitlines() if ln.startswith("resources:"))
    expected = ("nodes=2", "tasks_per_node=8", "gpus_per_node=8", "cpus_per_task=10", "mem_gb=480", "timeout_min=2880")
    for item in expected:
        assert re.search(rf"\b{item}\b", resources), resources
    assert "dry run: 1 job(s) for launcher LalmSlurmLauncher" in proc.stdout
    # the request follows the trainer: a request that does not is refused before anything runs
    bad = run_cli("lalm-train", [*args, "hydra.launcher.tasks_per_node=4", "dry_run=true"], cwd=tmp_path)
    assert bad.returncode == 1 and "tasks_per_node=4 but trainer.devices=8" in bad.stderr, bad.stderr


def test_fsdp_on_two_gpu_nodes_dry_run_shows_the_request_and_the_trainer(tmp_path: Path) -> None:
    """`trainer=fsdp trainer.num_nodes=2` on slurm_gpu: 2 nodes x one task per GPU, FSDP on both; a
    request that does not fit the trainer, or an FSDP option lalm-train does not support, is refused."""
    args = ["-m", "hydra/launcher=slurm_gpu", "trainer=fsdp", "trainer.num_nodes=2", "dry_run=true"]
    proc = run_cli("lalm-train", args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dry run: 1 job(s) for launcher LalmSlurmLauncher" in proc.stdout
    resources = next(ln for ln in proc.stdout.splitlines() if ln.startswith("resources:"))
    for item in ("nodes=2", "tasks_per_node=2", "gpus_per_node=2"):
        assert re.search(rf"\b{item}\b", resources), resources
    trainer = next(ln for ln in proc.stdout.splitlines() if ln.startswith("trainer:"))
    assert trainer == "trainer: strategy=LalmFSDPStrategy(FULL_SHARD), accelerator=auto, devices=2, num_nodes=2"
    assert not list(tmp_path.rglob(".submitit")), "a dry run submitted something"
    for extra, message in (
        ("hydra.launcher.nodes=1", "hydra.launcher.nodes=1 but trainer.num_nodes=2: they must agree."),
        ("+trainer.strategy.state_dict_type=sharded", "trainer.strategy.state_dict_type=sharded: lalm-train's FSDP"),
    ):
        bad = run_cli("lalm-train", [*args, extra], cwd=tmp_path)
        assert bad.returncode == 1 and message in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr and "nothing was launched" in bad.stderr


def test_a_launcher_override_without_m_runs_as_a_multirun(tmp_path: Path) -> None:
    """Without -m Hydra ignores hydra/launcher and would train right here (a 2-node DDP job would
    wait forever for its second node): lalm-train makes it a one-job multirun."""
    args = ["hydra/launcher=slurm_cpu", "experiment=digits", "trainer=ddp", "trainer.num_nodes=2", "dry_run=true"]
    proc = run_cli("lalm-train", args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "running as one (-m)" in proc.stderr
    assert "dry run: 1 job(s) for launcher LalmSlurmLauncher" in proc.stdout
    assert "nodes=2" in proc.stdout
    printed = run_cli("lalm-train", ["hydra/launcher=slurm_cpu", "--cfg", "job", "-p", "seed"], cwd=tmp_path)
    assert printed.returncode == 0 and "running as one" not in printed.stderr  # --cfg: nothing implied


def _toy(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The toy Hydra app (no torch) under the lalm_slurm launcher."""
    return subprocess.run(
        [sys.executable, str(TOY), "-m", "hydra/launcher=lalm_slurm", *args],
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "option, message",
    [
        ("hydra.launcher.max_num_timeout=-1", "max_num_timeout=-1 must not be negative"),
        ("hydra.launcher.array_parallelism=0", "array_parallelism=0 must be at least 1"),
        ("hydra.launcher.poll_interval_s=0", "poll_interval_s=0.0 must be above 0"),
        ("hydra.launcher.nodes=0", "nodes=0 must be at least 1"),
        ("hydra.launcher.signal_delay_s=-5", "signal_delay_s=-5 must not be negative"),
        ("hydra.launcher.gpus_per_node=-1", "gpus_per_node=-1 must not be negative"),
    ],
)
def test_bad_launcher_options_are_refused_before_anything_is_submitted(
    tmp_path: Path, option: str, message: str
) -> None:
    """Any Hydra app (here one with no validation of its own): the launcher checks its options
    first, also on a machine without SLURM client."""
    proc = _toy([option, "x=1,2"], tmp_path, env=BARE_PATH)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "The SLURM launcher options are invalid; nothing was submitted." in proc.stderr
    assert message in proc.stderr, proc.stderr
    assert not list(tmp_path.glob("multirun/**/.submitit/*"))


def test_bad_launcher_options_of_lalm_train_are_short_errors(tmp_path: Path) -> None:
    """lalm-train checks every job and its request before the launcher runs: unknown keys too."""
    for option, message in (
        ("hydra.launcher.max_num_timeout=-1", "max_num_timeout=-1 must not be negative"),
        ("hydra.launcher.no_such_option=1", "Unknown config key 'hydra.launcher.no_such_option'"),
    ):
        proc = run_cli("lalm-train", ["-m", "hydra/launcher=slurm_cpu", "experiment=digits", option], cwd=tmp_path)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 15
    assert not list(tmp_path.glob("multirun/**/.submitit"))


def test_a_machine_without_slurm_client_gets_one_clear_message(tmp_path: Path) -> None:
    """PATH without sbatch/srun (a laptop, a CI runner): say so and name the local launchers."""
    assert not any((Path(p) / "sbatch").exists() for p in BARE_PATH["PATH"].split(os.pathsep))
    proc = run_cli("lalm-train", ["-m", "hydra/launcher=slurm_cpu", "experiment=digits"], cwd=tmp_path, env=BARE_PATH)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert "hydra/launcher=slurm_cpu submits the jobs to SLURM, but this machine has no SLURM client" in err
    assert "hydra/launcher=lalm_pool" in err and "joblib" in err
    assert "Traceback" not in err and "srun" in err and len(err.splitlines()) <= 15, err
    assert not list(tmp_path.glob("multirun/**/.submitit/*"))
