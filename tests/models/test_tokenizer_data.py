"""The tiny model's tokenizer learns the words of the data it trains on (issue 10).

Today's behaviour was the bundled digits/commands vocabulary whatever the data: "the purple zebra"
became 13 pieces. Now the BPE learns the training transcripts of the run's dataset; an explicit
`model.tokenizer.corpus` or tokenizer path still wins.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from tiny_lalm import TINY_ENCODER, TINY_LLAMA

SENTENCES = [
    "the purple zebra",
    "a quiet orange river",
    "the purple river sings",
    "seven quiet zebras",
    "an orange zebra jumps",
    "the river is quiet",
]


@pytest.fixture(scope="module")
def other_words(tmp_path_factory) -> Path:
    """A JSONL set of words the bundled set never says, spoken by espeak-ng (train + dev manifests)."""
    import soundfile as sf

    from lalm_framework.samples.generate import synthesize

    root = tmp_path_factory.mktemp("other_words")
    for split, voice in (("train", "en-us+m1"), ("dev", "en-gb+f2")):
        lines = []
        for i, text in enumerate(SENTENCES):
            audio, sr = synthesize(text, voice, rate=170, pitch=50, gain=0.8)
            sf.write(root / f"{split}-{i}.flac", audio, sr)
            lines.append(json.dumps({"audio": f"{split}-{i}.flac", "text": text.upper()}) + "\n")
        (root / f"{split}.jsonl").write_text("".join(lines))
    return root


def _model(overrides: list[str]):
    """Compose `lalm-train`'s config and build the model the way the runner does (small sizes)."""
    from lalm_framework.compat.instantiate import instantiate
    from lalm_framework.config.validate import validate

    with initialize_config_module("lalm_framework.conf", version_base="1.3"):
        cfg = compose("train", overrides=["paths.output_dir=/tmp/unused", "paths.root_dir=.", *overrides])
    validate(cfg)  # the pre-launch checks accept it
    return instantiate(cfg.model, encoder={"config": TINY_ENCODER}, llm={"config": TINY_LLAMA})


def _jsonl(root: Path) -> list[str]:
    return [
        "dataset=jsonl",
        f"dataset.train_manifest={root / 'train.jsonl'}",
        f"dataset.val_manifest={root / 'dev.jsonl'}",
    ]


def test_tokenizer_learns_the_training_transcripts_of_the_dataset(other_words):
    bundled = _model(["dataset=sample"]).tokenizer
    own = _model(_jsonl(other_words)).tokenizer
    assert len(bundled.tokenize("the purple zebra")) >= 8  # the bundled vocabulary spells it out
    assert own.tokenize("the purple zebra") == ["▁the", "▁purple", "▁zebra"]
    assert own.decode(own("an orange river").input_ids, skip_special_tokens=True) == "an orange river"


def test_an_explicit_corpus_or_tokenizer_path_still_wins(other_words, tmp_path, saved_tiny_llama):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("completely different words\n" * 3)
    tok = _model([*_jsonl(other_words), f"model.tokenizer.corpus=[{corpus}]"]).tokenizer
    assert tok.tokenize("different") == ["▁different"]
    assert len(tok.tokenize("purple")) > 1  # not learned from the dataset

    tok = _model([*_jsonl(other_words), f"model.tokenizer.path={saved_tiny_llama}"]).tokenizer
    assert tok.get_vocab() == _saved_vocab(saved_tiny_llama)


def test_a_dataset_class_without_training_texts_falls_back_with_a_warning(caplog):
    from lalm_framework.models.tokenizer import dataset_training_texts

    texts = dataset_training_texts({"_target_": "lalm_framework.digits.data.DigitsDataModule"})
    assert texts is None and "training_texts" in caplog.text and "model.tokenizer.corpus" in caplog.text


def _saved_vocab(path: Path) -> dict[str, int]:
    from transformers import AutoTokenizer

    return dict(AutoTokenizer.from_pretrained(path).get_vocab())
