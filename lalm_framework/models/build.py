"""Build an audio LLM from its typed config, without Lightning (training and exported models alike)."""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedTokenizerBase, WhisperFeatureExtractor

from lalm_framework.data.batch import AUDIO_TOKEN
from lalm_framework.models.audio_encoder import build_audio_encoder, feature_extractor_for
from lalm_framework.models.lalm import LALM, set_trainable_by_regex
from lalm_framework.models.llm import add_lora, build_llm
from lalm_framework.models.projector import Projector
from lalm_framework.models.schema import LalmModelConfig


def build_lalm(cfg: LalmModelConfig, tokenizer: PreTrainedTokenizerBase) -> tuple[LALM, WhisperFeatureExtractor]:
    """The LALM of `cfg` (pretrained parts loaded, the rest random-init) and its feature extractor.

    Order: encoder (+ freeze), LLM (+ freeze), LoRA, projector, then the `freeze`/`unfreeze`
    regexes. Deterministic given the seed: exports and checkpoints rebuild this, then load weights.
    """
    encoder = build_audio_encoder(cfg.encoder)
    feature_extractor = feature_extractor_for(encoder, cfg.encoder.path)
    llm = build_llm(tokenizer, cfg.llm)
    if cfg.lora.enabled:
        llm = add_lora(llm, cfg.lora)
    encoder_config: Any = encoder.config
    projector = Projector(encoder_config.d_model, llm.get_input_embeddings().embedding_dim, cfg.projector)
    audio_id = tokenizer.convert_tokens_to_ids(AUDIO_TOKEN)
    assert isinstance(audio_id, int)
    reload = tuple(f"{part}." for part, path in (("encoder", cfg.encoder.path), ("llm", cfg.llm.path)) if path)
    model = LALM(encoder, projector, llm, audio_id, reload_prefixes=reload)
    set_trainable_by_regex(model, cfg.freeze, cfg.unfreeze)
    return model, feature_extractor
