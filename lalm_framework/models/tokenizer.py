"""Tokenizers: a pretrained one with the audio placeholder added, or a small BPE for tiny models."""

from __future__ import annotations

import glob
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from lalm_framework.data.batch import AUDIO_TOKEN
from lalm_framework.errors import UserError
from lalm_framework.models.pretrained_parts import from_pretrained_or_error
from lalm_framework.models.schema import TokenizerConfig, part_config

log = logging.getLogger(__name__)

SPECIALS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
# Characters every tiny vocabulary can spell, so unseen words still tokenize (as pieces).
# Texts a small BPE learns from at most (a seeded sample of larger corpora).
BPE_MAX_TEXTS = 50_000
_ALPHABET = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.,:;?!-")


def load_pretrained_tokenizer(path: str, option: str = "model.tokenizer.path") -> PreTrainedTokenizerBase:
    """The tokenizer at `path`, with AUDIO_TOKEN as a special token and a pad token set."""
    tok: PreTrainedTokenizerBase = from_pretrained_or_error(AutoTokenizer, path, option)
    return with_audio_token(tok)


def with_audio_token(tok: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Add AUDIO_TOKEN (one id, never split) and a pad token if the tokenizer lacks them."""
    if AUDIO_TOKEN not in tok.get_vocab():
        tok.add_special_tokens({"additional_special_tokens": [AUDIO_TOKEN]})
    if tok.pad_token is None:
        # eos as pad is safe here: labels mask padding by position, not by id
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int, lowercase: bool = True) -> PreTrainedTokenizerFast:
    """A small BPE (SentencePiece-style word boundaries) trained on `texts` in memory.

    With a vocabulary larger than the corpus' word list, frequent words become single tokens:
    far easier targets for a tiny random-init model than characters.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=SPECIALS["unk_token"]))
    norm = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    tok.normalizer = normalizers.Sequence(norm)
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = list(SPECIALS.values()) + [AUDIO_TOKEN]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=[c.lower() if lowercase else c for c in _ALPHABET],
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # transformers leaves the constructor unannotated
    fast: PreTrainedTokenizerFast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, **SPECIALS, additional_special_tokens=[AUDIO_TOKEN]
    )
    return fast


def corpus_files(patterns: Sequence[str]) -> list[str]:
    """The files the corpus globs match (relative globs from the launch dir); UserError if none."""
    from lalm_framework.utils.paths import resolve_path

    files = sorted({f for p in patterns for f in glob.glob(str(resolve_path(p)), recursive=True)})
    if not files:
        raise UserError(
            f"model.tokenizer.corpus={list(patterns)} matches no file: give text files "
            "or globs (LibriSpeech *.trans.txt, JSONL with 'text', or plain text)"
        )
    return files


def corpus_texts(patterns: Sequence[str]) -> list[str]:
    """Texts of corpus files: `*.trans.txt` (LibriSpeech: id + text), `*.jsonl` (`text`), plain lines."""
    return [t for f in corpus_files(patterns) for t in _read_texts(Path(f)) if t]


def _read_texts(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            if path.name.endswith(".trans.txt"):
                yield line.split(" ", 1)[1] if " " in line else ""
            elif path.suffix == ".jsonl":
                yield str(json.loads(line).get("text", ""))
            else:
                yield line


def bundled_corpus() -> list[str]:
    """Globs of the bundled sample set's training transcripts."""
    from lalm_framework.samples import SAMPLE_ROOT

    return [str(SAMPLE_ROOT / "train" / "**" / "*.trans.txt")]


def build_tokenizer(
    cfg: TokenizerConfig | Mapping[str, Any] | None = None, llm_path: str | None = None, **fields: Any
) -> PreTrainedTokenizerBase:
    """The model's tokenizer: `cfg.path`, else the LLM's own (`llm_path`), else a small BPE.

    `cfg`: a `TokenizerConfig`, a mapping of its fields, or the fields as keywords
    (`build_tokenizer(corpus=["train/*.txt"], vocab_size=256)`).

    The BPE learns from `cfg.corpus` if given, else from the training transcripts of
    `cfg.dataset`, else from the bundled sample set (see `TokenizerConfig`).
    """
    if cfg is None and "dataset" not in fields:
        fields = {**fields, "dataset": None}  # the schema's default names the run's dataset node
    cfg = part_config(TokenizerConfig, cfg, fields, "tokenizer")
    if cfg.path:
        return load_pretrained_tokenizer(cfg.path, "model.tokenizer.path")
    if llm_path:
        return load_pretrained_tokenizer(llm_path, "model.llm.path")
    texts: list[str] | None = None
    if cfg.corpus:
        texts, source = corpus_texts(cfg.corpus), f"model.tokenizer.corpus={list(cfg.corpus)}"
    elif cfg.dataset:
        texts, source = dataset_training_texts(cfg.dataset), "the run's training split"
    if not texts:
        texts, source = corpus_texts(bundled_corpus()), "the bundled sample set"
    sample = bpe_sample(texts)
    of = f" (a seeded sample of {len(texts)})" if len(sample) < len(texts) else ""
    log.info("tokenizer: %d-piece BPE from %d texts%s of %s", cfg.vocab_size, len(sample), of, source)
    return train_bpe_tokenizer(sample, cfg.vocab_size, cfg.lowercase)


def bpe_sample(texts: Sequence[str], limit: int = BPE_MAX_TEXTS, seed: int = 0) -> Sequence[str]:
    """`texts`, or a seeded random `limit` of them when there are more: a small vocabulary's
    merges are settled long before a large corpus ends, and training on all of it costs seconds.

    >>> len(bpe_sample(["a b"] * 300_000))
    50000
    """
    if len(texts) <= limit:
        return texts
    import random

    picked = sorted(random.Random(seed).sample(range(len(texts)), limit))  # in corpus order
    return [texts[i] for i in picked]


def dataset_training_texts(node: Mapping[str, Any]) -> list[str] | None:
    """The training transcripts a dataset config names, from its class's `training_texts(node)`.

    None (with a warning) when the class offers no such classmethod.
    """
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    from lalm_framework.compat.legacy import to_target_form

    plain = to_target_form(dict(node))
    target = plain.get("_target_")
    if not isinstance(target, str):
        return None
    cls = get_class(target)
    read = getattr(cls, "training_texts", None)
    if read is None:
        log.warning(
            "%s has no training_texts(node) classmethod: the tokenizer learns the bundled sample set's "
            "words instead of your data's; set model.tokenizer.corpus=[<transcript files>] to fix that",
            target,
        )
        return None
    texts = read(OmegaConf.create(plain))
    return [str(t) for t in texts if t]


def tokenizer_to_files(tok: PreTrainedTokenizerBase) -> dict[str, str]:
    """The files `save_pretrained` writes, as {name: text} (to store inside a checkpoint)."""
    with tempfile.TemporaryDirectory() as d:
        tok.save_pretrained(d)
        return {p.name: p.read_text(encoding="utf-8") for p in Path(d).iterdir() if p.is_file()}


def tokenizer_from_files(files: dict[str, str]) -> PreTrainedTokenizerBase:
    """Rebuild exactly the tokenizer `tokenizer_to_files` stored."""
    with tempfile.TemporaryDirectory() as d:
        for name, text in files.items():
            (Path(d) / name).write_text(text, encoding="utf-8")
        tok: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(d)
        return tok
