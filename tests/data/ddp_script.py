"""Run by test_data_ddp.py: one epoch of the bundled set with DDP on 2 CPU ranks (gloo).

Lightning's DDP launcher re-runs this script for rank 1. Each rank writes the utterance ids of
every train and val batch it got to <out>/rank<r>.jsonl. With `mix`: two weighted sources (3:1).
With `evalsets`: two named val sets of 7 and 5 utterances (eval batches of 2, uneven across the
ranks) under the project's `trainer=ddp` settings; each val row also holds the set index, the
batch's references and its hypotheses (decoded again here, on the same batch), and rank 0 writes
the metrics it logged to <out>/metrics.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytorch_lightning as pl
from data_fixtures import TINY, write_manifest
from omegaconf import OmegaConf

from lalm_framework.data.datamodule import LalmDataModule
from lalm_framework.models.lalm_module import LalmModule

# one epoch, nothing written or shown but what the callbacks record
QUIET = dict(
    num_sanity_val_steps=0,
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
)
TRAINER_DDP = Path(__file__).resolve().parents[2] / "lalm_framework" / "conf" / "trainer" / "ddp.yaml"


class RecordIds(pl.Callback):
    def __init__(self, out: Path, texts: bool = False) -> None:
        self.out = out
        self.texts = texts

    def _write(self, trainer: pl.Trainer, stage: str, batch: dict, **extra: object) -> None:
        row = {"stage": stage, "epoch": trainer.current_epoch, "ids": batch["ids"], **extra}
        with open(self.out / f"rank{trainer.global_rank}.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._write(trainer, "train", batch)

    def on_validation_batch_start(self, trainer, module, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.sanity_checking:
            return
        if not self.texts:
            self._write(trainer, "val", batch)
            return
        hyps = module.transcribe_batch(batch)
        counted = batch.get("counted") or [True] * len(hyps)
        self._write(trainer, "val", batch, set=dataloader_idx, refs=batch["texts"], hyps=hyps, counted=counted)


def eval_sets(out: Path) -> None:
    """Fit 1 step on 2 ranks with `trainer=ddp`; val sets `seven` (7 utterances) and `five` (5)."""
    seven = write_manifest(out / "seven", n=7, split="dev", name="seven.jsonl")
    five = write_manifest(out / "five", n=5, split="test", name="five.jsonl")
    dm = LalmDataModule(
        train=[{"source": "folder", "root": None, "split": "train"}],
        val={"seven": {"source": "jsonl", "path": str(seven)}, "five": {"source": "jsonl", "path": str(five)}},
        batch_size=8,
        eval_batch_size=2,
        bucketing=False,
        num_workers=0,
        seed=1,
    )
    settings = {**OmegaConf.to_container(OmegaConf.load(TRAINER_DDP)), "accelerator": "cpu"}  # no GPU here
    trainer = pl.Trainer(
        **settings,
        max_epochs=1,
        limit_train_batches=1,
        **QUIET,
        callbacks=[RecordIds(out, texts=True)],
    )
    # lr ~0 keeps the random init, whose hypotheses are words (a trained tiny model says nothing yet)
    trainer.fit(LalmModule(**{**TINY, "lr": 1e-9, "wer_every_n_val": 1}), datamodule=dm)
    if trainer.is_global_zero:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val")}
        (out / "metrics.json").write_text(json.dumps(metrics))


def main(out: Path, mix: bool = False) -> None:
    pl.seed_everything(1)
    dm = LalmDataModule(
        train_split="train", val_split="dev", test_split=None, batch_size=None, max_duration=12.0, num_workers=0, seed=1
    )
    if mix:  # the bundled train split (weight 3) mixed with a JSONL source (weight 1), 52 steps per rank
        captions = write_manifest(out / "captions", n=8, name="captions.jsonl")
        dm = LalmDataModule(
            train=[
                {"source": "folder", "root": None, "split": "train", "weight": 3},
                {"source": "jsonl", "path": str(captions), "task": "caption", "weight": 1},
            ],
            val={"source": "folder", "root": None, "split": "dev"},
            mix={"epoch": "steps", "steps": 52},
            batch_size=8,
            bucketing=False,
            num_workers=0,
            seed=1,
        )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=1,
        **QUIET,
        callbacks=[RecordIds(out)],
    )
    trainer.fit(LalmModule(**TINY), datamodule=dm)


if __name__ == "__main__":
    if sys.argv[2:] == ["evalsets"]:
        eval_sets(Path(sys.argv[1]))
    else:
        main(Path(sys.argv[1]), mix=sys.argv[2:] == ["mix"])
