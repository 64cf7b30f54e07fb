"""Readers: a LibriSpeech-layout folder, JSONL manifests (ASR and SpeechCraft-style), folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from data_fixtures import sample_utterances

from lalm_framework.data.audio import load_audio
from lalm_framework.data.librispeech import read_librispeech
from lalm_framework.data.manifest import read_audio_paths, read_manifest


def test_librispeech_layout(librispeech_root: Path):
    utts = read_librispeech(librispeech_root, "train-clean-5")
    assert [u.id for u in utts] == [f"{s}-198-{i:04d}" for s in (19, 26) for i in range(3)]
    expected = [t for _, t in sample_utterances("train", 6)]
    assert [u.text for u in utts] == expected
    assert all(Path(u.audio).is_file() for u in utts)


def test_manifest_keys_relative_paths_and_fields(tmp_path: Path):
    pairs = sample_utterances("dev", 3)
    (tmp_path / "audio").mkdir()
    for i, (flac, _) in enumerate(pairs):
        (tmp_path / "audio" / f"a{i}.flac").write_bytes(flac.read_bytes())
    rows = [
        {"audio": "audio/a0.flac", "text": pairs[0][1], "duration": 1.5},
        {"audio_filepath": str(tmp_path / "audio/a1.flac"), "text": pairs[1][1], "id": "u1"},
        {"path": "audio/a2.flac", "text": pairs[2][1], "task": "transcribe", "prompt": "Write it:"},
    ]
    manifest = tmp_path / "sub" / "train.jsonl"
    manifest.parent.mkdir()
    for r in rows:  # relative paths are relative to the manifest's folder
        if not r.get("audio_filepath"):
            key = "audio" if "audio" in r else "path"
            r[key] = "../" + r[key]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    utts = read_manifest(manifest)
    assert [Path(u.audio).resolve() for u in utts] == [(tmp_path / f"audio/a{i}.flac").resolve() for i in range(3)]
    assert [u.text for u in utts] == [t for _, t in pairs]
    assert utts[0].duration == 1.5 and utts[1].id == "u1"
    assert (utts[2].prompt, utts[2].task) == ("Write it:", "transcribe")


def test_speechcraft_style_captions(tmp_path: Path):
    flac, _ = sample_utterances("train", 1)[0]
    row = {"path": str(flac), "description": "A man speaks quickly in a high voice.", "gender": "Male"}
    manifest = tmp_path / "speechcraft.jsonl"
    manifest.write_text(json.dumps(row) + "\n")
    (utt,) = read_manifest(manifest, text_key="description")
    assert utt.text == row["description"]


def test_folder_of_audio_files(tmp_path: Path):
    for i, (flac, _) in enumerate(sample_utterances("test", 2)):
        (tmp_path / "nested").mkdir(exist_ok=True)
        (tmp_path / "nested" / f"x{i}.flac").write_bytes(flac.read_bytes())
    (tmp_path / "notes.txt").write_text("not audio")
    utts = read_audio_paths([tmp_path])
    assert [u.id for u in utts] == ["x0", "x1"] and all(u.text == "" for u in utts)


def test_load_audio_downmixes_and_resamples(tmp_path: Path):
    flac, _ = sample_utterances("train", 1)[0]
    mono16 = load_audio(flac)
    # a 22.05 kHz stereo copy (sox-style rates espeak-ng produces) comes back as 16 kHz mono
    from scipy.signal import resample_poly

    stereo = np.stack([resample_poly(mono16, 441, 320)] * 2, axis=1)
    sf.write(tmp_path / "s.wav", stereo, 22050, subtype="FLOAT")
    back = load_audio(tmp_path / "s.wav")
    assert back.dtype == np.float32 and back.ndim == 1
    assert abs(len(back) - len(mono16)) <= 1
    n = min(len(back), len(mono16))
    assert np.corrcoef(back[:n], mono16[:n])[0, 1] > 0.99
