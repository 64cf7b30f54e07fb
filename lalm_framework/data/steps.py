"""How many optimizer steps a run makes, without counting a large split's batches in advance.

Counting the batches of an epoch means running its sampler over every cut (seconds per 100k
cuts). A split of more than `COUNTED_MAX_CUTS` cuts is not counted: Lightning runs its epochs
with an unknown length (each ends when the data does; validation and checkpoints follow) unless
a trainer option needs the length (a fractional `val_check_interval` or `limit_*_batches`).
The LR schedule's total comes from `stepping_batches`: `max_steps` where a lower bound on the
batches shows it is reached first, else the exact count, as Lightning would give it.
"""

from __future__ import annotations

import math
from typing import Any

COUNTED_MAX_CUTS = 20_000  # splits up to this size have a len(): counting them takes under ~2 s


def needs_batch_count(trainer: Any, split: str) -> bool:
    """True when `trainer`'s options need the number of batches of `split`'s loader."""
    if trainer is None:
        return False
    stage = "train" if split == "train" else "val" if split == "val" else "test"
    limit = getattr(trainer, f"limit_{stage}_batches", 1.0)
    fraction = isinstance(limit, float) and limit not in (0.0, 1.0)
    interval = getattr(trainer, "val_check_interval", 1.0)
    return fraction or (split == "train" and isinstance(interval, float) and interval != 1.0)


def stepping_batches(trainer: Any) -> float:
    """`trainer.estimated_stepping_batches`, also when the train loader's length is unknown.

    >>> total = stepping_batches(self.trainer)  # in configure_optimizers  # doctest: +SKIP
    """
    steps = float(trainer.estimated_stepping_batches)
    if trainer.num_training_batches != float("inf") or trainer.max_epochs == -1:
        return steps  # Lightning counted, or the run has no end
    sampler = getattr(trainer.train_dataloader, "cut_sampler", None)
    if sampler is None:
        return steps if trainer.max_steps != -1 else math.inf
    epochs = max(int(trainer.max_epochs or 1), 1)
    accumulate = int(trainer.accumulate_grad_batches)
    if trainer.max_steps != -1 and trainer.max_steps <= math.ceil(sampler.min_batches() / accumulate) * epochs:
        return float(trainer.max_steps)  # reached before the last epoch ends, whatever the exact count
    total = math.ceil(sampler.count() / accumulate) * epochs
    return float(min(total, trainer.max_steps) if trainer.max_steps != -1 else total)
