"""Collate: Whisper-identical log-mel, prompt/audio/pad positions masked from the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_fixtures import sample_utterances

from lalm_framework.data.audio import load_audio
from lalm_framework.data.batch import AUDIO_TOKEN, IGNORE_INDEX
from lalm_framework.data.collate import LalmCollator
from lalm_framework.errors import UserError


def _examples(n: int = 4, split: str = "train"):
    return [
        {"id": f.stem, "audio": load_audio(f), "text": t, "prompt": None, "task": None}
        for f, t in sample_utterances(split, n)
    ]


def test_features_match_whisper_reference(tokenizer, feature_extractor):
    """Batched features == the numpy reference path of WhisperFeatureExtractor, per utterance."""
    examples = _examples(3)
    batch = LalmCollator(tokenizer, feature_extractor, f"{AUDIO_TOKEN}Transcribe:")(examples)
    fe = feature_extractor
    assert batch["input_features"].shape == (3, fe.feature_size, fe.nb_max_frames)
    for i, e in enumerate(examples):
        padded = np.zeros(fe.n_samples, dtype=np.float32)
        padded[: len(e["audio"])] = e["audio"]
        ref = fe._np_extract_fbank_features(padded[None], "cpu")[0]
        np.testing.assert_allclose(batch["input_features"][i].numpy(), ref, atol=2e-4)
        assert batch["feature_lengths"][i] == -(-len(e["audio"]) // fe.hop_length)


def test_labels_mask_prompt_audio_and_padding(tokenizer, feature_extractor):
    examples = _examples(4)
    examples[1]["prompt"] = "Write down the digits:"  # a per-example instruction (longer prompt)
    col = LalmCollator(tokenizer, feature_extractor, f"{AUDIO_TOKEN}{{prompt}}", prompts={"transcribe": "Transcribe:"})
    batch = col(examples)
    audio_id = tokenizer.convert_tokens_to_ids(AUDIO_TOKEN)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    for i, e in enumerate(examples):
        ids, labels, mask = batch["input_ids"][i], batch["labels"][i], batch["attention_mask"][i]
        n = int(mask.sum())
        prompt = tokenizer(col.prompt_text(e["prompt"]), add_special_tokens=True)["input_ids"]
        target = tokenizer(e["text"], add_special_tokens=False)["input_ids"] + [eos]
        assert ids[:n].tolist() == prompt + target
        assert (ids == audio_id).sum() == 1
        assert (labels[: len(prompt)] == IGNORE_INDEX).all()  # prompt + audio placeholder
        assert labels[len(prompt) : n].tolist() == target  # target text + eos
        assert (labels[n:] == IGNORE_INDEX).all() and (ids[n:] == pad).all()
        assert tokenizer.decode(target[:-1]).strip() == e["text"]
        # generation prompt: left padded, ends with the prompt's last token
        p_ids, p_mask = batch["prompt_input_ids"][i], batch["prompt_attention_mask"][i]
        assert p_ids[p_mask.bool()].tolist() == prompt and p_mask[-1] == 1
    assert batch["texts"] == [e["text"] for e in examples]
    assert batch["labels"].dtype == torch.long


def test_template_needs_exactly_one_audio_token(tokenizer, feature_extractor):
    with pytest.raises(UserError, match="must contain it once"):
        LalmCollator(tokenizer, feature_extractor, "Transcribe:")
    with pytest.raises(UserError, match="must contain it once"):
        LalmCollator(tokenizer, feature_extractor, f"{AUDIO_TOKEN}{AUDIO_TOKEN}")
    col = LalmCollator(tokenizer, feature_extractor, f"{AUDIO_TOKEN}{{prompt}}", prompts={"caption": "Describe:"})
    with pytest.raises(UserError, match="No prompt for task 'transcribe'"):
        col(_examples(1))


def test_feature_cache_reuses_identical_features(tokenizer, feature_extractor):
    examples = _examples(4)
    for e, (f, _) in zip(examples, sample_utterances("train", 4), strict=True):
        e["key"] = str(f)
    plain = LalmCollator(tokenizer, feature_extractor, f"{AUDIO_TOKEN}Transcribe:")
    cached = LalmCollator(tokenizer, feature_extractor, f"{AUDIO_TOKEN}Transcribe:", cache_features=True)
    first = cached(examples[:2])
    assert len(cached.feature_cache) == 2
    again = cached(examples[::-1])  # two hits, two misses, new order
    assert len(cached.feature_cache) == 4
    ref = plain(examples[::-1])
    assert torch.equal(again["input_features"], ref["input_features"])
    assert torch.equal(again["feature_lengths"], ref["feature_lengths"])
    assert torch.equal(again["input_features"][2:], first["input_features"].flip(0))


def test_cached_features_skip_decoding(tokenizer, feature_extractor, monkeypatch):
    """With cache_features, a later epoch neither decodes the audio again nor changes the batch."""
    import lalm_framework.data.cuts as cuts_module
    from lalm_framework.data.dataset import LalmCutDataset
    from lalm_framework.data.sources import FolderSource
    from lalm_framework.samples import SAMPLE_ROOT

    cuts = FolderSource(SAMPLE_ROOT, "dev").load("val", False, True).cuts.subset(first=4)
    decoded = []
    real = cuts_module.cut_audio
    monkeypatch.setattr(cuts_module, "cut_audio", lambda cut, sr: decoded.append(cut.id) or real(cut, sr))
    collate = LalmCollator(tokenizer, feature_extractor, f"{AUDIO_TOKEN}Transcribe:", cache_features=True)
    dataset = LalmCutDataset(collate, feature_extractor.sampling_rate)
    first, again = dataset[cuts], dataset[cuts]
    assert len(decoded) == 4
    assert torch.equal(first["input_features"], again["input_features"]) and first["ids"] == again["ids"]
