"""A model exported by `lalm-export`, loaded without Lightning, Hydra or any pickle.

    model = lalm_framework.load_pretrained("my_export")
    model.transcribe(["clip1.flac", "clip2.wav"])      # -> ["hypothesis 1", "hypothesis 2"]

The folder (see `lalm_framework.inference.export`) holds `lalm_config.json` (the model config,
prompt format, feature extractor settings, which weight files exist), the tokenizer, and
safetensors weights; pretrained bases (Whisper, the LLM) load from their path or hub id.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from lalm_framework.data.batch import LalmBatch
from lalm_framework.errors import UserError
from lalm_framework.models.lalm import LALM
from lalm_framework.models.schema import GenerationConfig, LalmModelConfig

CONFIG_FILE = "lalm_config.json"
FORMAT = "lalm-framework export"
VERSION = 1


class PretrainedLalm(torch.nn.Module):
    """An exported audio LLM ready to transcribe: model, tokenizer, feature extractor, prompt format."""

    def __init__(
        self,
        model: LALM,
        tokenizer: Any,
        feature_extractor: Any,
        config: LalmModelConfig,
        data_settings: dict[str, Any],
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self.config = config
        self.data_settings = data_settings

    @property
    def generation(self) -> GenerationConfig:
        """Decoding settings (greedy by default); change `max_new_tokens` here."""
        return self.config.generation

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def transcribe_batch(self, batch: LalmBatch) -> list[str]:
        """The hypotheses of a collated batch (see `lalm_framework.data.collate.LalmCollator`)."""
        return self.model.transcribe(batch, self.tokenizer, self.generation)

    def transcribe(self, audio: str | Path | Sequence[str | Path], batch_size: int | None = None) -> list[str]:
        """One hypothesis per audio file (folders: their audio files, sorted), in order."""
        from lalm_framework.data.manifest import read_audio_paths
        from lalm_framework.inference.transcribe import transcribe

        paths = [audio] if isinstance(audio, (str, Path)) else list(audio)
        rows = transcribe(self, read_audio_paths(paths), batch_size=batch_size, progress=False)
        return [r["hypothesis"] for r in rows]


def is_export(path: str | Path) -> bool:
    """Whether `path` is a folder written by `lalm-export`."""
    return (Path(path) / CONFIG_FILE).is_file()


def read_export_config(root: Path) -> dict[str, Any]:
    """The `lalm_config.json` of an export folder; UserError if it is not one."""
    file = root / CONFIG_FILE
    if not file.is_file():
        raise UserError(
            f"{root} is not a model exported by lalm-export (no {CONFIG_FILE}). "
            "Give an export folder, or a .ckpt file a training run wrote."
        )
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{file} is not valid JSON ({e}). Export the model again.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f'{file} is not an lalm-export config (no "format": "{FORMAT}"). Export the model again.')
    if int(meta.get("version", 0)) > VERSION:
        raise UserError(
            f"{file} has export format version {meta['version']}; this lalm-framework reads up to "
            f"{VERSION}. Upgrade lalm-framework."
        )
    return meta


def load_pretrained(path: str | Path, device: str = "cpu") -> PretrainedLalm:
    """The model of an export folder, in eval mode on `device`, ready for `transcribe`."""
    from transformers import WhisperFeatureExtractor

    from lalm_framework.models.build import build_lalm
    from lalm_framework.models.schema import QuantizationConfig, model_config

    root = Path(path)
    meta = read_export_config(root)
    weights: dict[str, Any] = meta.get("weights", {})
    cfg = model_config(meta["model"])
    if weights.get("merged_llm"):
        # the LoRA is merged into a plain transformers folder inside the export
        cfg.llm = dataclasses.replace(
            cfg.llm, path=str(root / weights["merged_llm"]), quantization=QuantizationConfig(), config={}
        )
        cfg.lora = dataclasses.replace(cfg.lora, enabled=False)
    # which parameters would train does not matter here (and merged layers have other names)
    cfg.freeze, cfg.unfreeze = [], []
    tokenizer = export_tokenizer(root / str(meta.get("tokenizer", "tokenizer")))
    model, _ = build_lalm(cfg, tokenizer)
    _load_weights(model, root, weights)
    feature_extractor = WhisperFeatureExtractor.from_dict(dict(meta["feature_extractor"]))
    out = PretrainedLalm(model, tokenizer, feature_extractor, cfg, dict(meta.get("prompt") or {}))
    return out.eval().to(device)


def export_tokenizer(folder: Path) -> Any:
    """The tokenizer saved in an export's `folder`; UserError naming the folder or file when it is
    missing or damaged (transformers would read a missing folder as a hub id)."""
    from transformers import AutoTokenizer

    again = "Export the model again (lalm-export CHECKPOINT OUT_DIR) or copy the folder over completely."
    if not folder.is_dir() or not any(folder.iterdir()):
        raise UserError(f"The export's tokenizer folder {folder} is missing or empty. {again}")
    for file in sorted(folder.glob("*.json")):  # name the damaged file, not only the folder
        try:
            json.loads(file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise UserError(f"The export's tokenizer file {file} is not valid JSON ({e}). {again}") from None
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as e:  # tokenizers' own parser, sentencepiece, a missing file: a damaged folder
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        files = ", ".join(sorted(p.name for p in folder.iterdir()))
        raise UserError(
            f"Cannot read the export's tokenizer in {folder} ({files}): {type(e).__name__}: {first}. {again}"
        ) from None


def _load_weights(model: LALM, root: Path, weights: dict[str, Any]) -> None:
    """Load the export's safetensors parts (and peft adapter) into the rebuilt model.

    Every weight that does not come from a pretrained base must be in the export: a missing or
    misshapen one is a UserError naming the file and the shapes.
    """
    from lalm_framework.models.weights import check_fits, load_tensors

    state = model.state_dict()
    provided: set[str] = set()
    if weights.get("adapter"):
        from lalm_framework.models.llm import is_adapter_key, load_adapter

        load_adapter(model.llm, root / weights["adapter"], str(root / weights["adapter"]))
        provided |= {k for k in state if k.startswith("llm.") and is_adapter_key(model.llm, k[4:])}
    for part in ("encoder", "projector", "llm"):
        if not weights.get(part):
            continue
        file = root / weights[part]
        tensors = {f"{part}.{k}": v for k, v in load_tensors(file).items()}
        check_fits(state, tensors, str(file), required=(), hint="Export the model again from its checkpoint.")
        model.load_state_dict(tensors, strict=False)
        provided |= tensors.keys()
    needed = [k for k in state if not k.startswith(model.reload_prefixes)]
    missing = [k for k in needed if k not in provided]
    if missing:
        raise UserError(
            f"{root} lacks weights the model needs ({missing[0]}{', ...' if len(missing) > 1 else ''}); "
            "export the model again from its checkpoint."
        )
