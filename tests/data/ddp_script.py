"""Run by test_data_ddp.py: one epoch of the bundled set with DDP on 2 CPU ranks (gloo).

Lightning's DDP launcher re-runs this script for rank 1. Each rank writes the utterance ids of
every train and val batch it got to <out>/rank<r>.jsonl. With `mix`: two weighted sources (3:1).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytorch_lightning as pl
from data_fixtures import TINY, write_manifest

from lalm_framework.data.datamodule import LalmDataModule
from lalm_framework.models.lalm_module import LalmModule


class RecordIds(pl.Callback):
    def __init__(self, out: Path) -> None:
        self.out = out

    def _write(self, trainer: pl.Trainer, stage: str, batch: dict) -> None:
        with open(self.out / f"rank{trainer.global_rank}.jsonl", "a") as fh:
            fh.write(json.dumps({"stage": stage, "epoch": trainer.current_epoch, "ids": batch["ids"]}) + "\n")

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._write(trainer, "train", batch)

    def on_validation_batch_start(self, trainer, module, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking:
            self._write(trainer, "val", batch)


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
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[RecordIds(out)],
    )
    trainer.fit(LalmModule(**TINY), datamodule=dm)


if __name__ == "__main__":
    main(Path(sys.argv[1]), mix=sys.argv[2:] == ["mix"])
