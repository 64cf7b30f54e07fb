"""DataLoaders of `LalmBatch`es: over Lhotse cut batches (training, evaluation) or utterances (inference)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from torch.utils.data import DataLoader, Dataset

from lalm_framework.data.dataset import LalmCutDataset
from lalm_framework.data.sampling import CutBatchSampler

# (epoch, batches of it trained) where a resume from a checkpoint saved now goes on, as the
# trainer will resume it (`private_api.fit_resume_position`); None outside training
Progress = Callable[[], "tuple[int, int] | None"]


def _as_is(batch: Any) -> Any:
    """The dataset returns whole batches: nothing to collate (module level: workers pickle it)."""
    return batch


def _pin_memory() -> bool:
    import torch

    return torch.cuda.is_available()


class CutLoader(DataLoader):  # type: ignore[type-arg]
    """A DataLoader over a `CutBatchSampler`: one `LalmBatch` per batch of cuts.

    Stateful (`state_dict`: the epoch and the number of its batches trained, where the trainer
    will resume, from `progress`): Lightning's fit loop saves it in checkpoints. It restores it only when it
    reloads the loader, so `LalmDataModule` also saves and restores it itself, early enough.
    """

    def __init__(
        self, dataset: LalmCutDataset, sampler: CutBatchSampler, num_workers: int = 0, progress: Progress | None = None
    ) -> None:
        super().__init__(
            dataset,
            sampler=sampler,
            batch_size=None,
            collate_fn=_as_is,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            pin_memory=_pin_memory(),
        )
        self.cut_sampler = sampler
        self.progress = progress

    def state_dict(self) -> dict[str, Any]:
        position = self.progress() if self.progress is not None else None
        if position is None:
            return self.cut_sampler.state_dict()
        epoch, trained = position
        return self.cut_sampler.state_dict(trained, epoch=epoch)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cut_sampler.load_state_dict(state)


def make_dataloader(
    dataset: Dataset[Any], collator: Callable[..., Any], num_workers: int = 0, **kwargs: Any
) -> DataLoader[Any]:
    """A DataLoader of `LalmBatch`es over a map-style dataset of examples (workers decode audio)."""
    return DataLoader(
        dataset,
        collate_fn=collator,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=_pin_memory(),
        **kwargs,
    )


def default_num_workers(devices: int = 1) -> int:
    """DataLoader workers that fit this machine: its usable cores, less one per training process."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, cores // max(1, devices) - 1)
