"""Dataclass schemas of the `model` group (type checks at compose time, e.g. `model.lora.r=abc`).

Only stdlib + omegaconf here: the SearchPath plugin registers these on every `lalm-train --help`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class EncoderConfig:
    """Whisper encoder: `path` (local dir or hub id) or, when `path` is null, built from `config`."""

    path: Optional[str] = None
    # WhisperConfig fields for a random-init encoder (used only when path is null)
    config: dict[str, Any] = field(default_factory=dict)
    freeze: bool = False
    dtype: str = "float32"


@dataclass
class ProjectorConfig:
    """Encoder frames -> LLM width: stack `stack` frames (or a strided conv), then an MLP."""

    kind: str = "mlp"  # mlp | conv
    stack: int = 4
    hidden_size: Optional[int] = None  # MLP hidden width; null = LLM width
    dropout: float = 0.0


@dataclass
class QuantizationConfig:
    """bitsandbytes 4-bit loading of the LLM (QLoRA). Applies only to a pretrained `llm.path`."""

    load_in_4bit: bool = False
    quant_type: str = "nf4"
    compute_dtype: str = "float32"
    double_quant: bool = True


@dataclass
class LlmConfig:
    """Causal LM decoder: `path` (local dir or hub id) or, when null, a LlamaConfig from `config`."""

    path: Optional[str] = None
    config: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float32"
    freeze: bool = False
    quantization: QuantizationConfig = field(default_factory=QuantizationConfig)
    gradient_checkpointing: bool = False


@dataclass
class LoraConfig:
    """peft LoRA on the LLM. `target_modules: all-linear` = every linear layer but lm_head."""

    enabled: bool = False
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: Any = "all-linear"
    # trained in full beside the adapters (e.g. [lm_head, embed_tokens] for a new vocabulary)
    modules_to_save: Optional[list[str]] = None


@dataclass
class TokenizerConfig:
    """The LLM's tokenizer (`path`, default: llm.path), or a small BPE trained on `corpus`.

    `corpus`: text files / globs (LibriSpeech `*.trans.txt` lines lose their utterance id, JSONL
    lines give their `text`); empty = the bundled sample set's training transcripts.
    """

    path: Optional[str] = None
    corpus: list[str] = field(default_factory=list)
    vocab_size: int = 256
    lowercase: bool = True


@dataclass
class GenerationConfig:
    """Greedy decoding for dev WER and `lalm-infer`."""

    max_new_tokens: int = 32
    num_beams: int = 1


@dataclass
class SpecAugmentConfig:
    """Random frequency / time masks on training features (0 masks = off)."""

    freq_masks: int = 0
    freq_width: int = 12
    time_masks: int = 0
    time_width: float = 0.08


@dataclass
class LalmModelConfig:
    """The LightningModule of an audio LLM (group `model`)."""

    _target_: str = "lalm_framework.models.lalm_module.LalmModule"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    # regexes on parameter names, applied after encoder.freeze / llm.freeze / LoRA, in this order
    freeze: list[str] = field(default_factory=list)
    unfreeze: list[str] = field(default_factory=list)
    lr: float = "${lr}"  # type: ignore[assignment]
    weight_decay: float = 0.0
    warmup_steps: int = 0
    # cosine decay to `min_lr_ratio * lr` over the run (constant after warmup when false)
    cosine: bool = True
    min_lr_ratio: float = 0.1
    # compute dev WER by greedy generation every N validation epochs (0 = never)
    wer_every_n_val: int = 1
