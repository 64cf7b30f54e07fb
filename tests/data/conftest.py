"""Fixtures of the data tests: a small real tokenizer and Whisper feature extractor, and speech
copied from the bundled set (real espeak-ng audio) into layouts the tests build themselves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from data_fixtures import sample_utterances

from lalm_framework.data.batch import AUDIO_TOKEN


@pytest.fixture(scope="session")
def tokenizer():
    """A char-level BPE (tokenizers) wrapped as PreTrainedTokenizerFast, AUDIO_TOKEN special."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = ["<pad>", "<s>", "</s>", "<unk>", AUDIO_TOKEN]
    trainer = trainers.BpeTrainer(
        vocab_size=120,
        special_tokens=specials,
        show_progress=False,
        initial_alphabet=list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz:.,'"),
    )
    tok.train_from_iterator(["ZERO ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE", "Transcribe:"] * 5, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        additional_special_tokens=[AUDIO_TOKEN],
    )


@pytest.fixture(scope="session")
def feature_extractor():
    """Whisper's feature extractor sized like the tiny encoder's window (80 mels, 5 s)."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=80, chunk_length=5)


@pytest.fixture
def librispeech_root(tmp_path: Path) -> Path:
    """A LibriSpeech-layout folder (2 splits, 2 speakers) with real speech."""
    root = tmp_path / "LibriSpeech"
    for split, src in (("train-clean-5", "train"), ("dev-clean-2", "dev")):
        pairs = sample_utterances(src, 6)
        for spk in (19, 26):
            chapter = root / split / str(spk) / "198"
            chapter.mkdir(parents=True)
            lines = []
            for i, (flac, text) in enumerate(pairs[:3] if spk == 19 else pairs[3:]):
                utt = f"{spk}-198-{i:04d}"
                shutil.copy(flac, chapter / f"{utt}.flac")
                lines.append(f"{utt} {text}\n")
            (chapter / f"{spk}-198.trans.txt").write_text("".join(lines))
    return root
