"""Load a trained LALM and transcribe folders, manifests or files; hypotheses as JSONL, WER."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from lalm_framework.data.collate import LalmCollator
from lalm_framework.data.datamodule import DEFAULT_PROMPTS, DEFAULT_TEMPLATE, make_dataloader
from lalm_framework.data.dataset import AudioTextDataset
from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError
from lalm_framework.training.wer import corpus_wer

log = logging.getLogger(__name__)


def load_model(checkpoint: str | Path, adapter: str | Path | None = None, device: str = "cpu") -> Any:
    """The LalmModule of a training checkpoint, in eval mode; `adapter`: a peft LoRA adapter dir."""
    from lalm_framework.models.lalm_module import LalmModule

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise UserError(
            f"Checkpoint not found: {checkpoint}. Give the .ckpt file a training run "
            "wrote (e.g. <run dir>/checkpoints/last.ckpt)."
        )
    module = LalmModule.load_from_checkpoint(str(checkpoint), map_location=device, weights_only=False)
    if adapter is not None:
        load_adapter(module, adapter)
    return module.eval().to(device)


def load_adapter(module: Any, adapter: str | Path) -> None:
    """Load LoRA weights saved by peft's `save_pretrained` into the model's LoRA layers."""
    from peft import PeftModel
    from peft.utils import load_peft_weights, set_peft_model_state_dict

    llm = module.model.llm
    if not isinstance(llm, PeftModel):
        raise UserError(
            f"--adapter {adapter}: this checkpoint's model has no LoRA layers "
            "(it was trained with model.lora.enabled=false)."
        )
    if not Path(adapter).is_dir():
        raise UserError(
            f"--adapter {adapter}: not a directory; give the folder holding "
            "adapter_config.json and adapter_model.safetensors."
        )
    result = set_peft_model_state_dict(llm, load_peft_weights(str(adapter), device="cpu"))
    if getattr(result, "unexpected_keys", None):
        raise UserError(
            f"--adapter {adapter} does not fit this model (unexpected weights such as "
            f"{result.unexpected_keys[0]}); was it trained with another LoRA config?"
        )


def save_adapter(module: Any, out_dir: str | Path) -> None:
    """Save the LoRA adapter of `module` with peft's `save_pretrained` (for `--adapter`)."""
    module.model.llm.save_pretrained(str(out_dir))


def transcribe(
    module: Any,
    utterances: list[Utterance],
    batch_size: int | None = None,
    num_workers: int = 0,
    prompt_template: str | None = None,
    prompts: dict[str, str] | None = None,
    task: str | None = None,
    skip_bad_audio: bool = False,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Greedy hypotheses for `utterances`: [{id, audio, hypothesis, reference?}] in input order.

    Prompt and batch size default to what the model was trained/validated with (stored in the
    checkpoint), so the dev WER printed by training is reproduced.
    """
    from lalm_framework.data.checks import check_audio_files

    trained = getattr(module, "data_settings", {}) or {}
    fe = module.feature_extractor
    utterances = check_audio_files(utterances, "input", skip_bad_audio=skip_bad_audio)
    too_long = [u for u in utterances if (u.duration or 0) > fe.chunk_length]
    if too_long:
        log.warning(
            "%d file(s) longer than the model's %s s audio window are cut (first: %s)",
            len(too_long),
            fe.chunk_length,
            too_long[0].audio,
        )
    collate = LalmCollator(
        module.tokenizer,
        fe,
        prompt_template or trained.get("prompt_template", DEFAULT_TEMPLATE),
        prompts if prompts is not None else trained.get("prompts", DEFAULT_PROMPTS),
        default_task=task or trained.get("task", "transcribe"),
    )
    dataset = AudioTextDataset(utterances, fe.sampling_rate, skip_bad_audio=skip_bad_audio)
    loader = make_dataloader(
        dataset,
        collate,
        num_workers=num_workers,
        batch_size=batch_size or trained.get("eval_batch_size", 8),
        shuffle=False,
    )
    by_id = {u.id: u for u in utterances}
    rows: list[dict[str, Any]] = []
    device = module.device
    with torch.inference_mode():
        for batch in _progress(loader, progress):
            batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            for utt_id, hyp in zip(batch["ids"], module.transcribe(batch), strict=True):
                u = by_id[utt_id]
                row = {"id": u.id, "audio": u.audio, "hypothesis": hyp}
                if u.text:
                    row["reference"] = u.text
                rows.append(row)
    return rows


def wer_of(rows: Iterable[dict[str, Any]]) -> float | None:
    """Corpus WER of the rows that have a reference (None when none has)."""
    scored = [r for r in rows if r.get("reference")]
    if not scored:
        return None
    return corpus_wer([r["hypothesis"] for r in scored], [r["reference"] for r in scored])


def write_jsonl(rows: Iterable[dict[str, Any]], out: str | Path) -> Path:
    """Write `rows` to a new file `out` (never replaces one; written atomically)."""
    out = Path(out)
    if out.exists():
        raise UserError(f"{out} exists already; earlier results are never overwritten. Choose another --out.")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        os.link(tmp, out)  # fails if `out` appeared meanwhile, unlike rename
    except FileExistsError:
        raise UserError(f"{out} was created by someone else meanwhile; choose another --out.") from None
    finally:
        os.unlink(tmp)
    return out


def _progress(loader: Any, show: bool) -> Any:
    if not show:
        return loader
    from tqdm.auto import tqdm

    return tqdm(loader, desc="transcribing", unit="batch")
