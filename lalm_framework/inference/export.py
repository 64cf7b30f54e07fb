"""`lalm-export`: turn a training checkpoint into a self-describing folder that loads without pickle.

    <out>/lalm_config.json       model config, prompt format, feature extractor, which files exist
    <out>/README.md              model card from the run's run.json
    <out>/tokenizer/             the tokenizer, audio placeholder token included
    <out>/projector.safetensors  always
    <out>/encoder.safetensors    encoder weights not in a pretrained base (all of a random-init one)
    <out>/adapter/               the LLM's LoRA adapter in peft's format (PeftModel.from_pretrained)
    <out>/llm.safetensors        LLM weights neither in the base nor in the adapter (all of a random-init one)
    <out>/llm/                   with --merge: LoRA merged, a plain AutoModelForCausalLM folder

Frozen weights of a pretrained base are not copied: the config names the base (path or hub id).
`lalm_framework.load_pretrained(out)` loads it back; `lalm-infer out ...` transcribes with it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lalm_framework.errors import UserError
from lalm_framework.inference.pretrained import CONFIG_FILE, FORMAT, VERSION


@dataclass
class ExportResult:
    """Where the export went, its files, and what the user should know (e.g. a thinner card)."""

    out_dir: Path
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def export_checkpoint(
    checkpoint: str | Path, out_dir: str | Path, merge: bool = False, overwrite: bool = False
) -> ExportResult:
    """Export the LALM of a lalm-train checkpoint to `out_dir` (see the module docstring).

    `out_dir` must not exist or be empty, unless `overwrite`; it is written completely or not at all.
    """
    from lalm_framework.inference.model_card import find_run_record
    from lalm_framework.inference.trained_model import load_checkpoint_model

    checkpoint, out = Path(checkpoint).resolve(), Path(out_dir).resolve()
    check_out_dir(out, checkpoint, overwrite)
    module = load_checkpoint_model(checkpoint)
    run_file, run = find_run_record(checkpoint)
    result = ExportResult(out)
    if run is None:
        result.notes.append(
            f"no run.json beside the checkpoint (looked in {run_file.parent} and {checkpoint.parent}): "
            "the model card has no training command, data or metrics."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        write_export(module, staging, merge=merge, checkpoint=checkpoint, run=run)
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    return result


def check_out_dir(out: Path, checkpoint: Path, overwrite: bool) -> None:
    """Refuse an output folder that holds anything, unless `overwrite`, and never the checkpoint's own."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder. Choose another output folder.")
    if checkpoint.is_relative_to(out):
        raise UserError(f"{out} holds the checkpoint {checkpoint} itself. Choose another output folder.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(
            f"{out} exists and is not empty; earlier outputs are never overwritten. "
            "Choose another output folder, or pass --overwrite to replace it."
        )


def _publish(staging: Path, out: Path) -> None:
    """Move the finished export into place (replacing an old one only after the new one is complete)."""
    umask = os.umask(0)
    os.umask(umask)
    for p in [staging, *staging.rglob("*")]:  # mkdtemp and safetensors create owner-only files
        p.chmod((0o777 if p.is_dir() else 0o666) & ~umask)
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(out)


def write_export(module: Any, dest: Path, merge: bool, checkpoint: Path, run: dict[str, Any] | None) -> None:
    """Write the export files of a LalmModule into the (empty) folder `dest`."""
    from lalm_framework.inference.model_card import model_card
    from lalm_framework.masking import mask_data, mask_text
    from lalm_framework.models.lalm_module import saved_hparams
    from lalm_framework.models.llm import is_adapter_key
    from lalm_framework.models.weights import save_tensors

    model = module.model
    state = model.state_dict()
    needed = model.weights_to_save()
    weights: dict[str, str | None] = dict.fromkeys(("encoder", "projector", "llm", "adapter", "merged_llm"))
    for part in ("encoder", "projector"):
        tensors = {k[len(part) + 1 :]: state[k] for k in needed if k.startswith(f"{part}.")}
        if tensors:
            weights[part] = f"{part}.safetensors"
            save_tensors(tensors, dest / f"{part}.safetensors")
    if merge:
        merged = merged_llm(module)
        merged.save_pretrained(str(dest / "llm"))
        module.tokenizer.save_pretrained(str(dest / "llm"))
        weights["merged_llm"] = "llm"
    else:
        if module.config.lora.enabled:
            model.llm.save_pretrained(str(dest / "adapter"), save_embedding_layers=False)
            weights["adapter"] = "adapter"
        rest = {k[4:]: state[k] for k in needed if k.startswith("llm.") and not is_adapter_key(model.llm, k[4:])}
        if rest:
            weights["llm"] = "llm.safetensors"
            save_tensors(rest, dest / "llm.safetensors")
    module.tokenizer.save_pretrained(str(dest / "tokenizer"))
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "model": saved_hparams(module.config),
        "weights": weights,
        "tokenizer": "tokenizer",
        "feature_extractor": _jsonable(module.feature_extractor.to_dict()),
        "prompt": dict(module.data_settings),
        "base_models": {"encoder": module.config.encoder.path, "llm": module.config.llm.path},
        "exported_from": {"checkpoint": str(checkpoint), "run": (run or {}).get("job_dir")},
    }
    meta = mask_data(meta)  # exports are made to be shared: no secret of the training config in them
    (dest / CONFIG_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (dest / "README.md").write_text(mask_text(model_card(module.config, meta, run)), encoding="utf-8")


def merged_llm(module: Any) -> Any:
    """The trained LLM as one plain transformers model: LoRA merged into the base weights.

    A 4-bit (QLoRA) base is reloaded unquantized (`llm.dtype`) first, so the merged model needs
    no bitsandbytes; its outputs then differ from the 4-bit model's by the quantization error.
    """
    from lalm_framework.models.llm import add_lora, build_llm
    from lalm_framework.models.schema import QuantizationConfig
    from lalm_framework.models.weights import check_fits

    cfg = module.config
    llm = module.model.llm
    if not cfg.lora.enabled:
        return copy.deepcopy(llm)
    if not cfg.llm.quantization.load_in_4bit:
        return copy.deepcopy(llm).merge_and_unload()
    plain = dataclasses.replace(cfg.llm, quantization=QuantizationConfig(), gradient_checkpointing=False)
    twin = add_lora(build_llm(module.tokenizer, plain), cfg.lora)
    trained = {k[4:] for k in module.model.weights_to_save() if k.startswith("llm.")}
    saved = {k: v for k, v in llm.state_dict().items() if k in trained}
    check_fits(twin.state_dict(), saved, "the 4-bit model's trained weights", required=())
    twin.load_state_dict(saved, strict=False)
    return twin.merge_and_unload()


def _jsonable(value: Any) -> Any:
    """JSON-ready copy of a settings dict (numpy arrays and scalars as lists and numbers)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
