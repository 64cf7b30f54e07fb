"""Duration bucketing: every index once per epoch, similar lengths together, new order per epoch."""

from __future__ import annotations

import random

from lalm_framework.data.sampler import DurationBucketBatchSampler


def test_buckets_cover_all_and_group_similar_durations():
    rng = random.Random(0)
    durations = [rng.uniform(0.5, 15.0) for _ in range(203)]
    sampler = DurationBucketBatchSampler(durations, batch_size=8, num_buckets=10, seed=1)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(203))
    assert len(sampler) == len(batches) and max(map(len, batches)) == 8
    spread = sum(max(durations[i] for i in b) - min(durations[i] for i in b) for b in batches) / len(batches)
    assert spread < 1.5, f"mean in-batch duration spread {spread:.2f} s (unbucketed: ~10 s)"
    sampler.set_epoch(1)
    assert list(sampler) != batches
    sampler.set_epoch(0)
    assert list(sampler) == batches  # deterministic per (seed, epoch)


def test_drop_last_keeps_full_batches_only():
    sampler = DurationBucketBatchSampler([1.0] * 21, batch_size=4, num_buckets=2, drop_last=True)
    assert all(len(b) == 4 for b in sampler)
