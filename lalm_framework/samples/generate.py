"""Regenerate the bundled speech set (`dataset=sample`) with espeak-ng + sox.

    python -m lalm_framework.samples.generate [--out DIR] [--force]

Deterministic: a seeded RNG picks texts, voices, rate and pitch; the same espeak-ng, sox and
libsndfile versions give byte-identical FLACs. Needs `espeak-ng` and `sox` on PATH (Debian:
`apt-get install espeak-ng sox`). Output: LibriSpeech layout
`<out>/<split>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac` + `<spk>-<chapter>.trans.txt`.

Splits use DIFFERENT voices (espeak language voice + variant), so dev/test WER measures
generalisation to unseen speakers, not memorisation.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

SAMPLE_RATE = 16000
MAX_SECONDS = 4.0
SEED = 1234
DIGITS = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"]
COMMANDS = (
    [f"TURN {a} THE {b}" for a in ("ON", "OFF") for b in ("LIGHT", "MUSIC", "RADIO")]
    + [f"{a} THE {b}" for a in ("OPEN", "CLOSE") for b in ("DOOR", "WINDOW")]
    + [f"GO {d}" for d in ("UP", "DOWN", "LEFT", "RIGHT")]
    + ["STOP", "YES", "NO"]
)
# espeak language voices (all English) x variants; each pair is one "speaker".
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc"]


@dataclass(frozen=True)
class SplitPlan:
    name: str
    voices: Sequence[tuple[str, str]]  # (language voice, variant)
    n_utterances: int
    chapter: int


SPLITS = [
    SplitPlan(
        "train", [(a, v) for a in ACCENTS for v in ("m1", "m2", "m3", "m4", "f1", "f2")], n_utterances=380, chapter=100
    ),
    SplitPlan(
        "dev",
        [("en-us", "m5"), ("en-gb", "f3"), ("en-029", "m6"), ("en-gb-scotland", "f4")],
        n_utterances=40,
        chapter=200,
    ),
    SplitPlan(
        "test",
        [("en-us", "m7"), ("en-gb", "f5"), ("en-gb-x-rp", "m6"), ("en-us-nyc", "f3")],
        n_utterances=40,
        chapter=300,
    ),
]


def random_text(rng: random.Random) -> str:
    """A spoken digit string (2-4 digits, 65%) or a short command."""
    if rng.random() < 0.65:
        return " ".join(rng.choice(DIGITS) for _ in range(rng.randint(2, 4)))
    return rng.choice(COMMANDS)


def synthesize(text: str, voice: str, rate: int, pitch: int, gain: float) -> tuple[np.ndarray, int]:
    """Speak `text` with espeak-ng; sox trims silence, resamples to 16 kHz mono 16 bit."""
    import soundfile as sf

    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", text.lower()],
        check=True,
        capture_output=True,
    ).stdout
    out = subprocess.run(
        # -D: no dither, which is random and would make the FLACs differ on every run
        [
            "sox",
            "-D",
            "-t",
            "wav",
            "-",
            "-t",
            "wav",
            "-r",
            str(SAMPLE_RATE),
            "-c",
            "1",
            "-b",
            "16",
            "-",
            "vol",
            f"{gain:.2f}",
            # trim leading/trailing silence, keep 50 ms of padding each side
            "silence",
            "1",
            "0.02",
            "0.5%",
            "reverse",
            "silence",
            "1",
            "0.02",
            "0.5%",
            "reverse",
            "pad",
            "0.05",
            "0.05",
        ],
        input=wav,
        check=True,
        capture_output=True,
    ).stdout
    audio, sr = sf.read(io.BytesIO(out), dtype="int16")
    return audio, int(sr)


def generate_split(plan: SplitPlan, out: Path, rng: random.Random) -> tuple[int, float]:
    """Write one split; returns (utterances, seconds of audio)."""
    import soundfile as sf

    by_speaker: dict[int, list[tuple[str, str]]] = {}
    total_s = 0.0
    speaker_ids = {voice: 1000 * (1 + SPLITS.index(plan)) + i for i, voice in enumerate(plan.voices)}
    for i in range(plan.n_utterances):
        accent, variant = plan.voices[i % len(plan.voices)]
        spk = speaker_ids[(accent, variant)]
        text = random_text(rng)
        audio, sr = synthesize(
            text,
            f"{accent}+{variant}",
            rate=rng.randint(140, 210),
            pitch=rng.randint(25, 75),
            gain=rng.uniform(0.5, 1.0),
        )
        seconds = len(audio) / sr
        if seconds > MAX_SECONDS:
            raise RuntimeError(f"utterance too long ({seconds:.2f} s): {text!r}")
        utts = by_speaker.setdefault(spk, [])
        utt_id = f"{spk}-{plan.chapter}-{len(utts):04d}"
        chapter_dir = out / plan.name / str(spk) / str(plan.chapter)
        chapter_dir.mkdir(parents=True, exist_ok=True)
        sf.write(chapter_dir / f"{utt_id}.flac", audio, sr, format="FLAC", subtype="PCM_16", compression_level=1.0)
        utts.append((utt_id, text))
        total_s += seconds
    for spk, utts in by_speaker.items():
        trans = out / plan.name / str(spk) / str(plan.chapter) / f"{spk}-{plan.chapter}.trans.txt"
        trans.write_text("".join(f"{u} {t}\n" for u, t in utts))
    return plan.n_utterances, total_s


def generate(out: Path, seed: int = SEED, splits: Sequence[str] | None = None) -> None:
    """Generate the splits (default: all) under `out`; each split has its own seeded RNG."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            sys.exit(f"`{tool}` not found: install it (Debian: apt-get install espeak-ng sox)")
    for plan in SPLITS:
        if splits is not None and plan.name not in splits:
            continue
        # one RNG per split: any split regenerates alone, identically
        n, seconds = generate_split(plan, out, random.Random(f"{seed}-{plan.name}"))
        print(f"{plan.name}: {n} utterances, {seconds:.0f} s, {len(plan.voices)} voices")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"total {size / 1e6:.2f} MB in {out}")


def main(argv: Sequence[str] | None = None) -> None:
    from lalm_framework.samples import SAMPLE_ROOT

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=SAMPLE_ROOT, help="output root (default: the bundled set)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--force", action="store_true", help="replace an existing set at --out")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        if not args.force:
            sys.exit(f"{args.out} is not empty: pass --force to replace it, or --out elsewhere")
        shutil.rmtree(args.out)
    generate(args.out, seed=args.seed)


if __name__ == "__main__":
    main()
