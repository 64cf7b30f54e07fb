"""Build an audio LLM from its typed config, without Lightning (training and exported models alike)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers import PreTrainedTokenizerBase, WhisperFeatureExtractor

from lalm_framework.data.batch import AUDIO_TOKEN
from lalm_framework.models.audio_encoder import build_audio_encoder, feature_extractor_for
from lalm_framework.models.lalm import LALM, set_trainable_by_regex
from lalm_framework.models.llm import add_lora, build_llm
from lalm_framework.models.projector import Projector
from lalm_framework.models.schema import LalmModelConfig, TokenizerConfig, model_config


def build_lalm(
    cfg: LalmModelConfig | Mapping[str, Any] | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    **fields: Any,
) -> tuple[LALM, WhisperFeatureExtractor]:
    """The LALM of `cfg` (pretrained parts loaded, the rest random-init) and its feature extractor.

    `cfg`: a `LalmModelConfig`, a mapping of its fields, or the fields as keywords
    (`build_lalm(encoder={...}, projector={"stack": 4}, llm={...})`); without a tokenizer object,
    the config's own is built (`build_tokenizer`; a mapping as `tokenizer` is that config).

    Order: encoder (+ freeze), LLM (+ freeze), LoRA, projector, then the `freeze`/`unfreeze`
    regexes. Deterministic given the seed: exports and checkpoints rebuild this, then load weights.
    """
    from lalm_framework.errors import UserError

    if isinstance(tokenizer, (Mapping, TokenizerConfig)):  # keyword callers: the config's `tokenizer` field
        fields, tokenizer = {**fields, "tokenizer": tokenizer}, None
    if cfg is not None and fields:
        raise UserError(f"build_lalm: pass a config or keyword arguments ({', '.join(fields)}), not both.")
    cfg = model_config(cfg if cfg is not None else {"lr": 0.0, **fields})
    if tokenizer is None:
        from lalm_framework.models.tokenizer import build_tokenizer

        tokenizer = build_tokenizer(cfg.tokenizer, cfg.llm.path)
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
