"""Audio I/O: mono float32 at the model's rate, and a cheap health check per file."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read `path` as mono float32 in [-1, 1] at `sample_rate` (channels averaged, resampled)."""
    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if sr != sample_rate:
        from scipy.signal import resample_poly

        g = gcd(sr, sample_rate)
        audio = resample_poly(audio, sample_rate // g, sr // g).astype(np.float32)
    return audio


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
