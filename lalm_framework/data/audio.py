"""Audio: a cheap health check per file, and mono float32 at the model's rate through Lhotse.

Every decode (training, validation, `lalm-infer`, files or Shar shards) goes through `cut_audio`,
so all paths resample and downmix the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

if TYPE_CHECKING:
    from lhotse.cut import Cut

SAMPLE_RATE = 16000


def cut_audio(cut: Cut, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The audio of `cut` as mono float32 in [-1, 1] at `sample_rate` (channels averaged)."""
    if cut.sampling_rate != sample_rate:
        cut = cut.resample(sample_rate)
    audio = np.asarray(cut.load_audio(), dtype=np.float32)
    return audio.mean(axis=0) if audio.ndim == 2 else audio


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read the file `path` as mono float32 in [-1, 1] at `sample_rate` (see `cut_audio`)."""
    from lhotse import Recording

    return cut_audio(Recording.from_file(str(path)).to_cut(), sample_rate)


def audio_problem(path: str | Path) -> tuple[str | None, float | None]:
    """(problem, duration in s): problem is None for a readable, non-empty audio file.

    Reads the header and decodes the last 1024 samples: a truncated file (an interrupted copy
    or download) fails there, at about the cost of the header read. Damage in the middle of a
    file shows when the file is loaded.
    """
    p = Path(path)
    if not p.is_file():
        return "file not found", None
    try:
        with sf.SoundFile(str(p)) as f:
            frames, sr = f.frames, f.samplerate
            if frames > 0:
                f.seek(max(0, frames - 1024))
                f.read(1024, dtype="int16")
    except Exception as e:
        return f"unreadable audio ({str(e).splitlines()[0][:120]})", None
    if frames <= 0 or sr <= 0:
        return "empty audio (0 samples)", None
    return None, frames / sr
