"""Transcribe with a loaded LALM (see `inference.trained_model`): one row per input, JSONL, WER.

Lightning-free: works for a LalmModule and for an export loaded by `load_pretrained`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import torch

from lalm_framework.data.batch import LalmBatch
from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError
from lalm_framework.models.schema import GenerationConfig
from lalm_framework.trainer_addons.wer import corpus_wer

log = logging.getLogger(__name__)


class Transcriber(Protocol):
    """What `transcribe` needs of a model: a `LalmModule` or a `PretrainedLalm` (an export)."""

    tokenizer: Any
    feature_extractor: Any
    data_settings: dict[str, Any]

    @property
    def device(self) -> torch.device: ...

    @property
    def generation(self) -> GenerationConfig: ...

    def transcribe_batch(self, batch: LalmBatch) -> list[str]: ...


def transcribe(
    module: Transcriber,
    utterances: list[Utterance],
    batch_size: int | None = None,
    num_workers: int = 0,
    prompt_template: str | None = None,
    prompts: dict[str, str] | None = None,
    task: str | None = None,
    skip_bad_audio: bool = False,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Hypotheses for `utterances`: [{id, audio, hypothesis, reference?}], one row per input, in order.

    Each row carries its own input's id, audio path and reference, whatever the ids (duplicates,
    generated ids). Prompt and batch size default to what the model was trained/validated with (stored
    in the checkpoint or export), so the dev WER printed by training is reproduced. Unreadable audio
    under `skip_bad_audio` gets a row with `hypothesis: null` and the `error`.
    """
    from torch.utils.data import DataLoader

    from lalm_framework.data.checks import check_audio_files
    from lalm_framework.data.collate import LalmCollator
    from lalm_framework.data.dataset import AudioTextDataset

    trained = dict(module.data_settings)
    if not {"prompt_template", "prompts", "task"} <= trained.keys():
        trained = {**_default_data_settings(), **trained}
    fe = module.feature_extractor
    # each input's position is its key through the data pipeline: ids need not be unique
    keyed = [dataclasses.replace(u, id=str(i)) for i, u in enumerate(utterances)]
    readable = check_audio_files(keyed, "input", skip_bad_audio=skip_bad_audio)
    too_long = [u for u in readable if (u.duration or 0) > fe.chunk_length]
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
        prompt_template or trained["prompt_template"],
        prompts if prompts is not None else trained["prompts"],
        default_task=task or trained["task"],
    )
    loader: DataLoader[Any] = DataLoader(
        AudioTextDataset(readable, fe.sampling_rate, skip_bad_audio=skip_bad_audio),
        batch_size=batch_size or trained.get("eval_batch_size") or 8,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate,
    )
    hypotheses: dict[int, str] = {}
    device = module.device
    with torch.inference_mode():
        for batch in _progress(loader, progress):
            on_device: Any = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            for key, hyp in zip(batch["ids"], module.transcribe_batch(on_device), strict=True):
                hypotheses[int(key)] = hyp
    rows: list[dict[str, Any]] = []
    for i, u in enumerate(utterances):
        row: dict[str, Any] = {"id": u.id, "audio": u.audio, "hypothesis": hypotheses.get(i)}
        if u.text:
            row["reference"] = u.text
        if i not in hypotheses:
            row["error"] = "unreadable audio (skipped)"
        rows.append(row)
    return rows


def _default_data_settings() -> dict[str, Any]:
    """Prompting of a model saved without data settings: the datamodule's defaults."""
    from lalm_framework.data.datamodule import DEFAULT_PROMPTS, DEFAULT_TEMPLATE

    return {"prompt_template": DEFAULT_TEMPLATE, "prompts": DEFAULT_PROMPTS, "task": "transcribe"}


def wer_of(rows: Iterable[dict[str, Any]]) -> float | None:
    """Corpus WER of the rows that have a reference and a hypothesis (None when none has)."""
    scored = [r for r in rows if r.get("reference") and r.get("hypothesis") is not None]
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
    from tqdm.auto import tqdm  # type: ignore[import-untyped]  # no stubs installed

    return tqdm(loader, desc="transcribing", unit="batch")
