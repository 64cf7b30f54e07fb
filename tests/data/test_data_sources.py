"""Sources as Lhotse cuts: a LibriSpeech-layout folder (Lhotse's recipe), JSONL manifests (ASR and
SpeechCraft-style, extra fields kept), Lhotse cut manifests, Shar shards; plain audio folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from data_fixtures import sample_utterances, write_manifest

from lalm_framework.data.audio import load_audio
from lalm_framework.data.cuts import cut_custom, cut_text
from lalm_framework.data.librispeech import read_librispeech
from lalm_framework.data.manifest import read_audio_paths, read_manifest
from lalm_framework.data.sources import CutsSource, FolderSource, JsonlSource, SharSource


def test_librispeech_layout(librispeech_root: Path):
    utts = read_librispeech(librispeech_root, "train-clean-5")
    assert [u.id for u in utts] == [f"{s}-198-{i:04d}" for s in (19, 26) for i in range(3)]
    expected = [t for _, t in sample_utterances("train", 6)]
    assert [u.text for u in utts] == expected
    assert all(Path(u.audio).is_file() for u in utts)
    # the same split as cuts, through Lhotse's LibriSpeech recipe: same ids, texts, files, in order
    split = FolderSource(librispeech_root, "train-clean-5").load("train", skip_bad_audio=False, check_audio=True)
    cuts = list(split.cuts)
    assert [c.id for c in cuts] == [u.id for u in utts] and split.size == 6
    assert [cut_text(c) for c in cuts] == expected
    assert [c.recording.sources[0].source for c in cuts] == [u.audio for u in utts]
    assert cuts[0].supervisions[0].speaker == "19"  # the recipe's own fields
    assert abs(cuts[0].duration - sf.info(utts[0].audio).duration) < 1e-6


def test_manifest_keys_relative_paths_and_fields(tmp_path: Path):
    pairs = sample_utterances("dev", 3)
    (tmp_path / "audio").mkdir()
    for i, (flac, _) in enumerate(pairs):
        (tmp_path / "audio" / f"a{i}.flac").write_bytes(flac.read_bytes())
    rows = [
        {"audio": "../audio/a0.flac", "text": pairs[0][1], "duration": 1.5},
        {"audio_filepath": str(tmp_path / "audio/a1.flac"), "text": pairs[1][1], "id": "u1"},
        {"path": "../audio/a2.flac", "text": pairs[2][1], "task": "transcribe", "prompt": "Write it:"},
    ]
    manifest = tmp_path / "sub" / "train.jsonl"  # relative paths are relative to the manifest's folder
    manifest.parent.mkdir()
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    utts = read_manifest(manifest)
    assert [Path(u.audio).resolve() for u in utts] == [(tmp_path / f"audio/a{i}.flac").resolve() for i in range(3)]
    assert [u.text for u in utts] == [t for _, t in pairs]
    assert utts[0].duration == 1.5 and utts[1].id == "u1" and utts[0].id == "a0#1"
    assert (utts[2].prompt, utts[2].task) == ("Write it:", "transcribe")
    cuts = list(JsonlSource(manifest).load("train", skip_bad_audio=False, check_audio=True).cuts)
    assert [c.id for c in cuts] == ["a0#1", "u1", "a2#3"]
    assert cut_custom(cuts[2]) == {"prompt": "Write it:", "task": "transcribe"}


def test_speechcraft_caption_is_the_text_and_other_fields_stay(tmp_path: Path):
    flac, _ = sample_utterances("train", 1)[0]
    row = {"path": str(flac), "description": "A man speaks quickly in a high voice.", "gender": "Male", "pitch": 0.7}
    manifest = tmp_path / "speechcraft.jsonl"
    manifest.write_text(json.dumps(row) + "\n")
    (utt,) = read_manifest(manifest, text_key="description")
    assert utt.text == row["description"] and utt.extra == {"gender": "Male", "pitch": 0.7}
    (cut,) = JsonlSource(manifest, "description").load("train", False, True).cuts
    assert cut_text(cut) == row["description"]
    assert cut_custom(cut) == {"gender": "Male", "pitch": 0.7}


def test_lhotse_cut_manifest(tmp_path: Path):
    """A cuts.jsonl.gz as Lhotse's own recipes and tools write it; text_key picks a custom field."""
    from lhotse import CutSet, Recording, SupervisionSegment

    cuts = []
    for i, (flac, text) in enumerate(sample_utterances("test", 4)):
        rec = Recording.from_file(flac, recording_id=f"r{i}")
        sup = SupervisionSegment(f"s{i}", f"r{i}", 0, rec.duration, text=text, custom={"caption": f"voice {i}"})
        cut = rec.to_cut()
        cut.supervisions = [sup]
        cuts.append(cut)
    CutSet.from_cuts(cuts).to_file(tmp_path / "cuts.jsonl.gz")
    split = CutsSource(tmp_path / "cuts.jsonl.gz").load("train", skip_bad_audio=False, check_audio=True)
    assert split.size == 4 and split.cuts.is_lazy
    assert [cut_text(c) for c in split.cuts] == [t for _, t in sample_utterances("test", 4)]
    captions = CutsSource(tmp_path / "cuts.jsonl.gz", text_key="caption").texts()
    assert captions == [f"voice {i}" for i in range(4)]


def test_shar_round_trip_keeps_order_texts_fields_and_audio(tmp_path: Path):
    manifest = write_manifest(tmp_path / "data", n=5, emotion="neutral")
    split = JsonlSource(manifest).load("train", skip_bad_audio=False, check_audio=True)
    (tmp_path / "shar" / "train").mkdir(parents=True)
    split.cuts.to_shar(tmp_path / "shar" / "train", fields={"recording": "flac"}, shard_size=2)
    shar = SharSource(tmp_path / "shar" / "train")
    assert len(shar.shards()) == 3
    back = shar.load("train", skip_bad_audio=False, check_audio=True)
    assert back.size == 5
    original = list(split.cuts)
    streamed = list(back.ordered(None, metadata=False))
    assert [c.id for c in streamed] == [c.id for c in original] == [c.id for c in back.meta]
    assert [cut_text(c) for c in streamed] == [cut_text(c) for c in original]
    assert cut_custom(streamed[0]) == {"emotion": "neutral"}
    for a, b in zip(original, streamed, strict=True):  # FLAC is lossless
        np.testing.assert_array_equal(a.load_audio(), b.load_audio())
    # a per-epoch order permutes whole shards (sequential reads stay sequential)
    shuffled = [c.id for c in back.ordered(seed=1, metadata=True)]
    assert sorted(shuffled) == sorted(c.id for c in original)


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
    assert mono16.dtype == np.float32
    np.testing.assert_allclose(mono16, sf.read(flac, dtype="float32")[0], atol=1e-6)
    # a 22.05 kHz stereo copy (the rate espeak-ng produces) comes back as 16 kHz mono
    from scipy.signal import resample_poly

    stereo = np.stack([resample_poly(mono16, 441, 320)] * 2, axis=1)
    sf.write(tmp_path / "s.wav", stereo, 22050, subtype="FLOAT")
    back = load_audio(tmp_path / "s.wav")
    assert back.dtype == np.float32 and back.ndim == 1
    assert abs(len(back) - len(mono16)) <= 1
    n = min(len(back), len(mono16))
    assert np.corrcoef(back[:n], mono16[:n])[0, 1] > 0.99
