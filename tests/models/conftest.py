"""Fixtures of the model tests: a tiny random-init LALM, and locally saved tiny "pretrained" models."""

from __future__ import annotations

import pytest
from tiny_lalm import TINY_ENCODER, TINY_LLAMA, tiny_kwargs


@pytest.fixture(scope="module")
def tiny_module():
    import torch

    from lalm_framework.models.lalm_module import LalmModule

    torch.manual_seed(0)
    return LalmModule(**tiny_kwargs())


@pytest.fixture(scope="session")
def saved_tiny_llama(tmp_path_factory):
    """A tiny Llama + its tokenizer saved with save_pretrained, as a user's local model dir."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from lalm_framework.models.tokenizer import bundled_corpus, corpus_texts, train_bpe_tokenizer

    out = tmp_path_factory.mktemp("tiny_llama")
    tok = train_bpe_tokenizer(corpus_texts(bundled_corpus()), vocab_size=200)
    tok.save_pretrained(out)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        **{**TINY_LLAMA, "hidden_size": 64, "intermediate_size": 128},
    )
    LlamaForCausalLM(cfg).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def saved_tiny_whisper(tmp_path_factory):
    """A tiny Whisper (encoder + decoder) + its feature extractor, saved as a user's local model dir."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    from lalm_framework.models.audio_encoder import DECODER_STUB

    out = tmp_path_factory.mktemp("tiny_whisper")
    torch.manual_seed(0)
    cfg = WhisperConfig(**{**DECODER_STUB, "decoder_attention_heads": 2, "decoder_ffn_dim": 64, **TINY_ENCODER})
    WhisperModel(cfg).save_pretrained(out)
    WhisperFeatureExtractor(feature_size=80, chunk_length=4).save_pretrained(out)
    return out
