"""FSDP on 2 CPU ranks over gloo (`trainer=fsdp`): the same losses as DDP, with and without activation
checkpointing; LoRA trains, resumes after SIGKILL, exports; `lalm-infer` on the export equals the checkpoint."""

from __future__ import annotations

import csv
import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.helpers import run_cli, start_cli

DEV = Path(__file__).resolve().parents[2] / "lalm_framework" / "samples" / "speech" / "dev"
# the tiny LALM on 48 utterances: batches of 8 per rank, 3 steps an epoch on 2 ranks
SMALL = [
    "trainer.accelerator=cpu",
    "trainer.devices=2",
    "trainer.log_every_n_steps=1",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "dataset.max_utterances=48",
    "model.wer_every_n_val=0",
    "logger=csv",
]
CHECKPOINTING = ["model.encoder.gradient_checkpointing=true", "model.llm.gradient_checkpointing=true"]


def _train_losses(cwd: Path, name: str, *overrides: str) -> list[float]:
    run_dir = cwd / name
    run_cli("lalm-train", [*SMALL, "trainer.max_steps=5", f"hydra.run.dir={run_dir}", *overrides], cwd, check=True)
    (metrics,) = run_dir.glob("csv/version_*/metrics.csv")
    rows = [r for r in csv.DictReader(metrics.open()) if r["train/loss"]]
    return [float(r["train/loss"]) for r in rows]


@pytest.mark.slow
def test_fsdp_losses_equal_ddp_with_and_without_checkpointing(tmp_path: Path) -> None:
    """Same seed, same global batch (8 per rank x 2): rank 0's loss at each of 5 steps."""
    ddp = _train_losses(tmp_path, "ddp", "trainer=ddp")
    fsdp = _train_losses(tmp_path, "fsdp", "trainer=fsdp")
    fsdp_ckpt = _train_losses(tmp_path, "fsdp_ckpt", "trainer=fsdp", *CHECKPOINTING)
    assert len(ddp) == 5 and ddp[-1] < ddp[0]
    assert fsdp == pytest.approx(ddp, rel=1e-4)
    assert fsdp_ckpt == pytest.approx(fsdp, rel=1e-4)
    # a full checkpoint: every weight, under the unwrapped model's names
    import torch

    ckpt = torch.load(tmp_path / "fsdp" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 5
    assert not [k for k in ckpt["state_dict"] if "_fsdp_wrapped_module" in k]
    ddp_ckpt = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert sorted(ckpt["state_dict"]) == sorted(ddp_ckpt["state_dict"])


@pytest.mark.slow
@pytest.mark.xfail(
    reason="issue 22, open: the rerun after SIGKILL of both ranks failed once (rank 0 died before the first "
    "broadcast) and XPASSed in CI since; the failing run's rank-0 stderr was not kept, so the cause is not "
    "known. Ruled out from the code: the job-dir lock (flock, released by the kernel on SIGKILL; its fd is "
    "not inheritable) and a torn last.ckpt (atomic rename). The test now waits for the whole process group "
    "(rank 1 too) to be gone before the rerun, and run_cli(check=True) prints the tail of the ranks' shared "
    "stderr if it fails again.",
    strict=False,
)
def test_fsdp_lora_resumes_after_sigkill_exports_and_infers(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    steps = 9
    args = [
        *SMALL,
        "trainer=fsdp",
        "model.lora.enabled=true",
        f"trainer.max_steps={steps}",
        "callbacks.last_checkpoint.every_n_train_steps=1",
        f"hydra.run.dir={run_dir}",
    ]
    proc = start_cli("lalm-train", args, tmp_path)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert last.exists(), "no last.ckpt was written"
    os.killpg(proc.pid, signal.SIGKILL)  # both ranks: one process group
    proc.wait()
    # proc.wait() reaps rank 0 only: the rerun must not start while the old rank 1 still exists
    gone = time.time() + 60
    while time.time() < gone:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    assert json.loads((run_dir / "run.json").read_text())["attempts"][0]["status"] == "running"

    run_cli("lalm-train", args, tmp_path, check=True)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["attempts"][1]["resumed_from"] == str(last)
    assert record["attempts"][1]["status"] == "completed"
    assert record["metrics"]["global_step"] == steps
    assert not list(run_dir.rglob("*.tmp-*")), "temporary checkpoint files left behind"

    export = tmp_path / "export"
    run_cli("lalm-export", [str(last), str(export)], tmp_path, check=True)
    assert (export / "adapter" / "adapter_model.safetensors").is_file()
    hyps = {}
    for name, source in (("ckpt", last), ("export", export)):
        out = tmp_path / f"{name}.jsonl"
        run_cli("lalm-infer", [str(source), str(DEV), "--out", str(out), "--no-progress"], tmp_path, check=True)
        hyps[name] = [json.loads(line)["hypothesis"] for line in out.read_text().splitlines()]
    assert len(hyps["ckpt"]) == 40 and hyps["export"] == hyps["ckpt"]
