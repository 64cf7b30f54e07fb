"""Dataclass schemas of the `model` group (type checks at compose time, e.g. `model.lora.r=abc`).

These dataclasses are the only place a default of the LALM lives: `LalmModule` and the builders
receive them (`model_config` turns a node or dict into one), never a dict with fallbacks.
Only stdlib + omegaconf here: the SearchPath plugin registers these on every `lalm-train --help`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, TypeVar, cast

T = TypeVar("T")


@dataclass
class EncoderConfig:
    """Whisper encoder: `path` (local dir or hub id) or, when `path` is null, built from `config`."""

    path: Optional[str] = None
    # WhisperConfig fields for a random-init encoder (used only when path is null)
    config: dict[str, Any] = field(default_factory=dict)
    freeze: bool = False
    dtype: str = "float32"
    # recompute each encoder layer's activations in backward (less memory, more compute)
    gradient_checkpointing: bool = False


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
    """The LLM's tokenizer (`path`, default: llm.path), or a small BPE trained for a random-init LLM.

    The small BPE learns from, in this order: `corpus` (text files / globs: LibriSpeech
    `*.trans.txt` lines lose their utterance id, JSONL lines give their `text`); else the training
    transcripts of `dataset` (the run's own dataset node: its class's `training_texts(node)`);
    else the bundled sample set's training transcripts.
    """

    path: Optional[str] = None
    corpus: list[str] = field(default_factory=list)
    vocab_size: int = 256
    lowercase: bool = True
    # the dataset config whose training transcripts the BPE learns (default: the run's `dataset`)
    dataset: Any = "${oc.select:dataset,null}"


@dataclass
class GenerationConfig:
    """Decoding of dev/test metrics and `lalm-infer`: greedy (`num_beams: 1`) or beam search via `generate`."""

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
    # nested nodes reach LalmModule as config (tokenizer.dataset holds a `_target_` not to build)
    _recursive_: bool = False
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


def model_config(values: Mapping[str, Any] | LalmModelConfig | None = None) -> LalmModelConfig:
    """`values` (a resolved node or dict of any subset of the fields) over the schema's defaults.

    Types are checked as at compose time; an unknown key or a wrong type raises UserError.
    """
    return as_config(LalmModelConfig, values, "model")


def as_config(cls: type[T], values: Mapping[str, Any] | T | None, where: str) -> T:
    """A `cls` dataclass from `values` (a mapping over `cls`'s defaults), or `values` itself."""
    if isinstance(values, cls):
        return values
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from lalm_framework.errors import UserError

    if isinstance(values, DictConfig):  # resolve against its own root before it leaves it
        values = OmegaConf.to_container(values, resolve=True)  # type: ignore[assignment]  # a dict here
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), dict(cast(Mapping[str, Any], values or {})))
        obj = OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        key = f"{where}.{e.full_key}" if getattr(e, "full_key", None) else where
        msg = str(e).strip().splitlines()[0]
        raise UserError(f"{key}: {msg}\nPass values of the types `lalm_framework.models.schema` declares.") from None
    assert isinstance(obj, cls)
    return obj


def part_config(cls: type[T], cfg: Mapping[str, Any] | T | None, fields: Mapping[str, Any], where: str) -> T:
    """The `cls` config of a building block called with a config (`cfg`) or with keyword `fields`.

    The building blocks (encoder, projector, LLM, LoRA, tokenizer, LALM) take either; `_target_`
    and legacy `target`/`params` configs call them with keywords:

    >>> part_config(EncoderConfig, None, {"path": None, "freeze": True}, "encoder").freeze
    True
    """
    from lalm_framework.errors import UserError

    if cfg is not None and fields:
        raise UserError(f"{where}: pass a config or keyword arguments ({', '.join(fields)}), not both.")
    values = dict(fields)
    if "dtype" in values and not isinstance(values["dtype"], str):  # a torch.dtype, as older builders took
        values["dtype"] = str(values["dtype"]).removeprefix("torch.")
    return as_config(cls, cfg if cfg is not None else values, where)


def to_plain(config: Any) -> dict[str, Any]:
    """A config dataclass as plain dicts/lists/scalars (checkpoints, JSON): no omegaconf types."""
    plain = dataclasses.asdict(config)
    assert isinstance(plain, dict)
    return plain
