"""A map-style dataset of utterances; audio is decoded in the loader's workers."""

from __future__ import annotations

import logging
from typing import Any

from torch.utils.data import Dataset

from lalm_framework.data.audio import SAMPLE_RATE, load_audio
from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError

log = logging.getLogger(__name__)


class AudioTextDataset(Dataset):
    """Examples `{id, path, audio (float32 mono), text, prompt, task}` for `LalmCollator`."""

    def __init__(
        self, utterances: list[Utterance], sample_rate: int = SAMPLE_RATE, skip_bad_audio: bool = False
    ) -> None:
        self.utterances = utterances
        self.sample_rate = sample_rate
        self.skip_bad_audio = skip_bad_audio

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def durations(self) -> list[float]:
        return [u.duration or 0.0 for u in self.utterances]

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        u = self.utterances[index]
        try:
            audio = load_audio(u.audio, self.sample_rate)
        except Exception as e:
            if self.skip_bad_audio:
                log.warning("skipping unreadable audio %s: %s", u.audio, e)
                return None
            raise UserError(
                f"Cannot decode audio {u.audio}: {e}.\nFix or remove the file, or set dataset.skip_bad_audio=true."
            ) from e
        return {"id": u.id, "path": u.audio, "audio": audio, "text": u.text, "prompt": u.prompt, "task": u.task}
