"""The speech encoder: a Whisper encoder (pretrained, or random-init from a config) + its features."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from transformers import WhisperConfig, WhisperFeatureExtractor
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from lalm_framework.models.pretrained_parts import from_pretrained_or_error
from lalm_framework.models.schema import EncoderConfig, part_config

# A Whisper *decoder* stub: an encoder-only config still validates these ids against vocab_size.
DECODER_STUB = dict(
    vocab_size=8,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
    decoder_start_token_id=1,
    decoder_layers=1,
    decoder_attention_heads=1,
)


def build_audio_encoder(cfg: EncoderConfig | Mapping[str, Any] | None = None, **fields: Any) -> WhisperEncoder:
    """A Whisper encoder from `cfg.path` (local dir / hub id) or, if it is null, from `cfg.config`.

    Takes an `EncoderConfig` (or a mapping of its fields) or the fields as keywords:

    >>> build_audio_encoder(path=None, config={"d_model": 32, "encoder_layers": 1}, freeze=True)  # doctest: +SKIP
    """
    from lalm_framework.models.llm import torch_dtype

    cfg = part_config(EncoderConfig, cfg, fields, "encoder")

    dtype = torch_dtype(cfg.dtype)
    encoder: WhisperEncoder
    if cfg.path:
        from transformers import WhisperModel

        # A full Whisper checkpoint holds encoder + decoder; keep the encoder only.
        model = from_pretrained_or_error(WhisperModel, cfg.path, "model.encoder.path", dtype=dtype)
        encoder = model.get_encoder()
        del model
    else:
        encoder = WhisperEncoder(WhisperConfig(**{**DECODER_STUB, **cfg.config}))
        # transformers' `to` overloads confuse mypy (it expects a model as first argument)
        encoder.to(dtype)  # type: ignore[arg-type]
    set_trainable(encoder, not cfg.freeze)
    if cfg.gradient_checkpointing:
        from lalm_framework.models.activation_checkpointing import enable_activation_checkpointing

        enable_activation_checkpointing(encoder)
    return encoder


def feature_extractor_for(encoder: WhisperEncoder, path: str | None = None) -> WhisperFeatureExtractor:
    """The log-mel extractor whose mel bins and window match `encoder` exactly.

    Whisper encoders take exactly 2 * max_source_positions mel frames (10 ms hop), so the
    extractor's chunk length follows from the encoder's config.
    """
    cfg: Any = encoder.config
    n_frames = 2 * cfg.max_source_positions
    if path:
        from transformers import AutoFeatureExtractor

        fe = from_pretrained_or_error(AutoFeatureExtractor, path, "model.encoder.path")
        if fe.feature_size == cfg.num_mel_bins and fe.nb_max_frames == n_frames:
            return fe  # type: ignore[no-any-return]  # AutoFeatureExtractor of a Whisper model
    hop, sr = 160, 16000
    if (n_frames * hop) % sr:
        raise ValueError(
            f"encoder max_source_positions={cfg.max_source_positions}: 2x that many "
            "10 ms frames must be a whole number of seconds (use a multiple of 50)"
        )
    return WhisperFeatureExtractor(  # type: ignore[no-untyped-call]  # transformers leaves it unannotated
        feature_size=cfg.num_mel_bins, sampling_rate=sr, hop_length=hop, chunk_length=n_frames * hop // sr, n_fft=400
    )


def set_trainable(module: torch.nn.Module, trainable: bool) -> None:
    """Freeze or unfreeze every floating-point parameter of `module`."""
    for p in module.parameters():
        if p.is_floating_point():
            p.requires_grad_(trainable)
