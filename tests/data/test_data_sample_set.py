"""The bundled speech set: layout, size, voices per split, and that the script regenerates it."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from lalm_framework.data.librispeech import read_librispeech
from lalm_framework.samples import SAMPLE_ROOT
from lalm_framework.samples.generate import COMMANDS, DIGITS, MAX_SECONDS, SPLITS, generate


def test_layout_size_and_audio_format():
    size = sum(p.stat().st_size for p in SAMPLE_ROOT.rglob("*") if p.is_file())
    assert size <= 10_000_000, f"bundled set is {size / 1e6:.1f} MB"
    words = set(DIGITS) | {w for c in COMMANDS for w in c.split()}
    for plan in SPLITS:
        utts = read_librispeech(SAMPLE_ROOT, plan.name)
        assert len(utts) == plan.n_utterances
        for u in utts:
            info = sf.info(u.audio)
            assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")
            assert 0.3 < info.duration <= MAX_SECONDS
            assert set(u.text.split()) <= words


def test_splits_use_different_voices():
    voices = {plan.name: set(plan.voices) for plan in SPLITS}
    speakers = {plan.name: {p.name for p in (SAMPLE_ROOT / plan.name).iterdir()} for plan in SPLITS}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert not voices[a] & voices[b]
        assert not speakers[a] & speakers[b]


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")), reason="needs espeak-ng and sox")
def test_generate_reproduces_the_bundled_files(tmp_path: Path):
    generate(tmp_path / "speech", splits=["dev"])  # the smallest split: a few seconds

    def digest(root: Path) -> dict:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    assert digest(tmp_path / "speech" / "dev") == digest(SAMPLE_ROOT / "dev")
