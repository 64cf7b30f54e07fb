"""Map-style datasets whose items are decoded in the DataLoader workers (audio, log-mel, tokens).

- `LalmCutDataset`: an item is a batch of cuts (from `CutBatchSampler`) -> a `LalmBatch`;
- `AudioTextDataset`: an item is one `Utterance` -> one example (`lalm-infer` batches a list);
- `WindowDataset`: an item is one window of an utterance (`utterance_windows`) -> one example
  (`lalm-infer --long-audio chunk`).
All decode through `load_example`, so training and inference read audio the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Sequence
from typing import TYPE_CHECKING, Any

from torch.utils.data import Dataset

from lalm_framework.data.audio import SAMPLE_RATE
from lalm_framework.data.cuts import cut_example, cut_files, utterance_cut
from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet
    from lhotse.cut import Cut

    from lalm_framework.data.batch import LalmBatch
    from lalm_framework.data.collate import LalmCollator

log = logging.getLogger(__name__)


class DataLoadError(UserError):
    """A user-data problem found while loading (e.g. audio that cannot be decoded).

    Raised in a DataLoader worker, PyTorch re-raises it in the training process as
    `DataLoadError("Caught DataLoadError in DataLoader worker ... Traceback ... DataLoadError: <msg>")`:
    the constructor keeps only `<msg>`, so the user sees one short message.
    """

    def __init__(self, message: str) -> None:
        marker = f"{type(self).__name__}: "
        super().__init__(message.rsplit(marker, 1)[-1] if "Traceback" in message else message)


def load_example(
    cut: Cut, sample_rate: int, skip_bad_audio: bool, cached: Container[str] = ()
) -> dict[str, Any] | None:
    """The collator's example of `cut`; None (logged) for undecodable audio under `skip_bad_audio`.

    `cached`: audio keys whose features the collator holds (their audio is not decoded again).
    """
    try:
        return cut_example(cut, sample_rate, cached)
    except UserError as e:
        raise DataLoadError(str(e)) from None
    except Exception as e:
        where = ", ".join(cut_files(cut)) or f"cut {cut.id}"
        if skip_bad_audio:
            log.warning("skipping unreadable audio %s: %s", where, str(e).splitlines()[0][:200])
            return None
        raise DataLoadError(
            f"Cannot decode audio {where}: {str(e).splitlines()[0][:200]}.\n"
            "Fix or remove the file, or set dataset.skip_bad_audio=true."
        ) from e


class LalmCutDataset(Dataset):  # type: ignore[type-arg]  # indexed by CutSets, not ints
    """Batches of cuts -> `LalmBatch` (decode, Whisper log-mel, tokenization) in the workers."""

    def __init__(
        self,
        collator: LalmCollator,
        sample_rate: int = SAMPLE_RATE,
        skip_bad_audio: bool = False,
        tasks: Sequence[str] | None = None,
    ) -> None:
        self.collator = collator
        self.sample_rate = sample_rate
        self.skip_bad_audio = skip_bad_audio
        self.tasks = list(tasks or [])  # per source index: the task of examples without their own

    def __getitem__(self, cuts: CutSet) -> LalmBatch:
        cached = self.collator.feature_cache or {}
        try:
            examples = [load_example(c, self.sample_rate, self.skip_bad_audio, cached) for c in cuts]
            for e in examples:
                if e is not None and e.get("task") is None and e["source"] < len(self.tasks):
                    e["task"] = self.tasks[e["source"]]
            return self.collator([e for e in examples if e is not None])
        except DataLoadError:
            raise
        except UserError as e:  # e.g. a task without a prompt: short in the training process too
            raise DataLoadError(str(e)) from None


class AudioTextDataset(Dataset):  # type: ignore[type-arg]
    """Examples `{id, key, audio (float32 mono), text, prompt, task}` of utterances, for `LalmCollator`."""

    def __init__(
        self, utterances: list[Utterance], sample_rate: int = SAMPLE_RATE, skip_bad_audio: bool = False
    ) -> None:
        self.utterances = utterances
        self.sample_rate = sample_rate
        self.skip_bad_audio = skip_bad_audio

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        u = self.utterances[index]
        try:
            cut = utterance_cut(u)
        except UserError as e:
            if self.skip_bad_audio:
                log.warning("skipping unreadable audio %s: %s", u.audio, str(e).splitlines()[0])
                return None
            raise DataLoadError(str(e)) from None
        return load_example(cut, self.sample_rate, self.skip_bad_audio)


def utterance_windows(u: Utterance, window: float) -> list[Cut]:
    """`u` as consecutive cuts of at most `window` seconds, in time order (Lhotse's
    `cut_into_windows`; the last one shorter). Audio within the window stays one cut."""
    cut = utterance_cut(u)
    if cut.duration <= window:
        return [cut]
    return list(cut.cut_into_windows(duration=window))


class WindowDataset(Dataset):  # type: ignore[type-arg]
    """Examples of cuts (windows of utterances), each example's id set to its position here.

    Example: `WindowDataset([c for u in utts for c in utterance_windows(u, 30.0)])`.
    """

    def __init__(self, cuts: Sequence[Cut], sample_rate: int = SAMPLE_RATE, skip_bad_audio: bool = False) -> None:
        self.cuts = list(cuts)
        self.sample_rate = sample_rate
        self.skip_bad_audio = skip_bad_audio

    def __len__(self) -> int:
        return len(self.cuts)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        example = load_example(self.cuts[index], self.sample_rate, self.skip_bad_audio)
        if example is not None:
            example["id"] = str(index)  # windows share their utterance's supervision id
        return example
