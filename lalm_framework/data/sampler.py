"""Duration bucketing: batches of similar-length utterances, so little of each batch is padding."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler


class DurationBucketBatchSampler(Sampler[list[int]]):
    """Sort by duration, cut into `num_buckets` buckets, batch inside buckets, shuffle batches.

    Reshuffles every epoch (Lightning calls `set_epoch`). Single-process only: under DDP keep
    bucketing off (Lightning cannot inject its DistributedSampler into a custom batch sampler).
    """

    def __init__(
        self,
        durations: Sequence[float],
        batch_size: int,
        num_buckets: int = 10,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        if batch_size < 1 or num_buckets < 1:
            raise ValueError("batch_size and num_buckets must be >= 1")
        self.durations = list(durations)
        self.batch_size = batch_size
        self.num_buckets = num_buckets
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        rng = random.Random(self.seed + self.epoch)
        order = list(range(len(self.durations)))
        if self.shuffle:
            rng.shuffle(order)  # random order among equal durations
        order.sort(key=lambda i: self.durations[i])
        size = -(-len(order) // self.num_buckets)
        batches: list[list[int]] = []
        for start in range(0, len(order), size):
            bucket = order[start : start + size]
            if self.shuffle:
                rng.shuffle(bucket)
            batches.extend(bucket[i : i + self.batch_size] for i in range(0, len(bucket), self.batch_size))
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())
