"""Resume mid-epoch: `lalm-train` is SIGKILLed after k steps; the rerun continues the epoch.

The sampler's position (epoch + batches trained) is in the checkpoint, so the batches trained
before the last checkpoint plus those of the rerun are exactly one epoch, each utterance once,
in the order the first attempt would have used.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_cli

RECORDER = '''
import json, os, signal
import pytorch_lightning as pl


class RecordIds(pl.Callback):
    """Writes each train batch's ids; SIGKILLs the run at global step $LALM_TEST_KILL_AT."""

    def __init__(self, out: str) -> None:
        self.out = out

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == int(os.environ.get("LALM_TEST_KILL_AT", "-1")):
            os.kill(os.getpid(), signal.SIGKILL)
        with open(self.out, "a") as fh:
            row = {"epoch": trainer.current_epoch, "idx": batch_idx, "step": trainer.global_step, "ids": batch["ids"]}
            fh.write(json.dumps(row) + "\\n")
'''


@pytest.mark.slow
@pytest.mark.parametrize("batching", ["dataset.batch_size=8", "dataset.max_duration=10"])
def test_sigkill_mid_epoch_then_rerun_covers_the_epoch_once(tmp_path: Path, batching: str):
    (tmp_path / "record_ids.py").write_text(RECORDER)
    args = [
        batching,
        "dataset.max_utterances=64",
        "trainer.max_epochs=1",
        "trainer.limit_val_batches=0",
        "trainer.num_sanity_val_steps=0",
        "logger=none",
        "~callbacks.model_checkpoint",
        "+callbacks.last_checkpoint.every_n_train_steps=3",
        "+callbacks.record._target_=record_ids.RecordIds",
        f"+callbacks.record.out={tmp_path / 'ids.jsonl'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    if "max_duration" in batching:
        args.append("dataset.batch_size=null")
    first = run_cli("lalm-train", args, cwd=tmp_path, env={"LALM_TEST_KILL_AT": "5"}, timeout=600)
    assert first.returncode == -9, first.stdout[-2000:] + first.stderr[-2000:]
    killed = [json.loads(line) for line in (tmp_path / "ids.jsonl").read_text().splitlines()]
    assert [r["step"] for r in killed] == [0, 1, 2, 3, 4]  # last.ckpt holds steps 0-2
    (tmp_path / "ids.jsonl").unlink()
    run_cli("lalm-train", args, cwd=tmp_path, timeout=600, check=True)
    rerun = [json.loads(line) for line in (tmp_path / "ids.jsonl").read_text().splitlines()]
    assert rerun[0]["idx"] == 3 and {r["epoch"] for r in rerun} == {0}
    # the rerun continues with the very batches the killed attempt had reached
    assert [r["ids"] for r in rerun[:2]] == [r["ids"] for r in killed[3:5]]
    epoch = [i for r in killed[:3] + rerun for i in r["ids"]]
    assert len(epoch) == len(set(epoch)) == 64


@pytest.mark.slow
def test_a_weighted_mix_killed_mid_epoch_resumes_with_the_same_draws(tmp_path: Path):
    """Weights 3:1: the killed attempt (up to its checkpoint) and the rerun draw together exactly
    what one uninterrupted epoch draws, batch for batch; run.json counts each attempt's draws."""
    from data_fixtures import write_manifest

    (tmp_path / "record_ids.py").write_text(RECORDER)
    captions = write_manifest(tmp_path / "captions", n=8, name="captions.jsonl")
    train = f"[{{source:folder,root:null,split:train,weight:3}},{{source:jsonl,path:'{captions}',weight:1}}]"

    def args(run: str) -> list[str]:
        return [
            "dataset=mix",
            f"dataset.train={train}",
            "dataset.mix.epoch=steps",
            "dataset.mix.steps=20",
            "dataset.batch_size=8",
            "dataset.max_duration=null",
            "trainer.max_epochs=1",
            "trainer.limit_val_batches=0",
            "trainer.num_sanity_val_steps=0",
            "logger=none",
            "~callbacks.model_checkpoint",
            "+callbacks.last_checkpoint.every_n_train_steps=3",
            "+callbacks.record._target_=record_ids.RecordIds",
            f"+callbacks.record.out={tmp_path / run}.jsonl",
            f"hydra.run.dir={tmp_path / run}",
        ]

    def ids(run: str) -> list[list[str]]:
        return [json.loads(line)["ids"] for line in (tmp_path / f"{run}.jsonl").read_text().splitlines()]

    run_cli("lalm-train", args("whole"), cwd=tmp_path, timeout=600, check=True)
    first = run_cli("lalm-train", args("kill"), cwd=tmp_path, env={"LALM_TEST_KILL_AT": "5"}, timeout=600)
    assert first.returncode == -9, first.stdout[-2000:] + first.stderr[-2000:]
    killed = ids("kill")
    (tmp_path / "kill.jsonl").unlink()
    run_cli("lalm-train", args("kill"), cwd=tmp_path, timeout=600, check=True)
    assert killed[:3] + ids("kill") == ids("whole")

    def drawn(run: str, attempt: int) -> list[int]:
        record = json.loads((tmp_path / run / "run.json").read_text())
        return [s["drawn_cuts"] for s in record["attempts"][attempt]["data"]["train"]["sources"]]

    together = [a + b for a, b in zip(drawn("kill", 0), drawn("kill", 1), strict=True)]
    assert together == drawn("whole", -1) and sum(together) == 20 * 8
    assert drawn("kill", 0) == [
        sum(not i.startswith("u") for b in killed[:3] for i in b),
        sum(i.startswith("u") for b in killed[:3] for i in b),
    ]
