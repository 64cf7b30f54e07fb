"""Transcribe with a loaded LALM (see `inference.trained_model`): one row per input, JSONL, scores.

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

log = logging.getLogger(__name__)
LONG_AUDIO = ("cut", "chunk")  # audio longer than the window: its first window, or every window


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
    long_audio: str = "cut",
) -> list[dict[str, Any]]:
    """Hypotheses for `utterances`: [{id, audio, duration, hypothesis, reference?, task?}], one row per
    input, in order.

    Each row carries its own input's id, audio path and reference, whatever the ids (duplicates,
    generated ids). Prompt and batch size default to what the model was trained/validated with (stored
    in the checkpoint or export), so the dev WER printed by training is reproduced. Unreadable audio
    under `skip_bad_audio` gets a row with `hypothesis: null` and the `error`.

    Audio longer than the model's window: `long_audio="cut"` decodes its first window only (with a
    warning); `"chunk"` decodes each consecutive window and joins the hypotheses in time order
    (the row's `windows` says into how many it was cut).
    """
    from torch.utils.data import DataLoader

    from lalm_framework.data.checks import check_audio_files
    from lalm_framework.data.collate import LalmCollator
    from lalm_framework.data.dataset import AudioTextDataset, WindowDataset, utterance_windows

    trained = dict(module.data_settings)
    if not {"prompt_template", "prompts", "task"} <= trained.keys():
        trained = {**_default_data_settings(), **trained}
    fe = module.feature_extractor
    # each input's position is its key through the data pipeline: ids need not be unique
    keyed = [dataclasses.replace(u, id=str(i)) for i, u in enumerate(utterances)]
    readable = check_audio_files(keyed, "input", skip_bad_audio=skip_bad_audio)
    if long_audio not in LONG_AUDIO:
        raise UserError(f"--long-audio {long_audio}: use one of {', '.join(LONG_AUDIO)}.")
    too_long = [u for u in readable if (u.duration or 0) > fe.chunk_length]
    if too_long and long_audio == "cut":
        log.warning(
            "%d file(s) longer than the model's %s s audio window are cut to it (first: %s); "
            "--long-audio chunk decodes every window",
            len(too_long),
            fe.chunk_length,
            too_long[0].audio,
        )
    chunked = long_audio == "chunk" and bool(too_long)
    dataset: Any = AudioTextDataset(readable, fe.sampling_rate, skip_bad_audio=skip_bad_audio)
    owner = {int(u.id): int(u.id) for u in readable}  # loader item -> input
    if chunked:  # the loader's items are windows, in time order per input
        windows = [(int(u.id), c) for u in readable for c in utterance_windows(u, fe.chunk_length)]
        dataset = WindowDataset([c for _, c in windows], fe.sampling_rate, skip_bad_audio)
        owner = {j: i for j, (i, _) in enumerate(windows)}
    collate = LalmCollator(
        module.tokenizer,
        fe,
        prompt_template or trained["prompt_template"],
        prompts if prompts is not None else trained["prompts"],
        default_task=task or trained["task"],
    )
    loader: DataLoader[Any] = DataLoader(
        dataset,
        batch_size=batch_size or trained.get("eval_batch_size") or 8,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate,
    )
    pieces: dict[int, list[tuple[int, str]]] = {}  # input -> (item, hypothesis) of its windows
    device = module.device
    with torch.inference_mode():
        for batch in _progress(loader, progress):
            on_device: Any = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            for key, hyp in zip(batch["ids"], module.transcribe_batch(on_device), strict=True):
                pieces.setdefault(owner[int(key)], []).append((int(key), hyp))
    hypotheses = {
        i: p[0][1] if len(p) == 1 else " ".join(h.strip() for _, h in sorted(p) if h.strip()) for i, p in pieces.items()
    }
    rows: list[dict[str, Any]] = []
    for i, u in enumerate(utterances):
        row: dict[str, Any] = {"id": u.id, "audio": u.audio, "duration": keyed[i].duration}
        row["hypothesis"] = hypotheses.get(i)
        if u.text:
            row["reference"] = u.text
        if u.task:
            row["task"] = u.task
        if i not in hypotheses:
            row["error"] = "unreadable audio (skipped)"
        elif chunked and len(pieces[i]) > 1:
            row["windows"] = len(pieces[i])
        rows.append(row)
    return rows


def _default_data_settings() -> dict[str, Any]:
    """Prompting of a model saved without data settings: the datamodule's defaults."""
    from lalm_framework.data.datamodule import DEFAULT_PROMPTS, DEFAULT_TEMPLATE

    return {"prompt_template": DEFAULT_TEMPLATE, "prompts": DEFAULT_PROMPTS, "task": "transcribe"}


def scores_of(
    rows: Iterable[dict[str, Any]], data_settings: dict[str, Any] | None = None, task: str | None = None
) -> dict[str, float]:
    """The metrics of the rows that have a reference and a hypothesis, as evaluation in training
    computes them (`scoring.score` with the model's `normalizer` and `metrics`), plus, over the
    `transcribe` rows, WER and CER both normalized and raw (`wer`, `cer`, `wer_raw`, `cer_raw`)."""
    from lalm_framework.scoring import DEFAULT_NORMALIZER, metric_value, score

    settings = data_settings or {}
    scored = [r for r in rows if r.get("reference") and r.get("hypothesis") is not None]
    if not scored:
        return {}
    default_task = task or settings.get("task") or "transcribe"
    hyps, refs = [r["hypothesis"] for r in scored], [r["reference"] for r in scored]
    tasks = [r.get("task") or default_task for r in scored]
    normalizer = str(settings.get("normalizer") or DEFAULT_NORMALIZER)
    out = score(hyps, refs, tasks, normalizer, settings.get("metrics"))
    spoken = [i for i, t in enumerate(tasks) if t == "transcribe"]
    if spoken:
        h, r = [hyps[i] for i in spoken], [refs[i] for i in spoken]
        for m in ("wer", "cer"):
            out.setdefault(m, metric_value(m, h, r, normalizer))
            out[f"{m}_raw"] = metric_value(m, h, r, "none")
    return out


def wer_of(rows: Iterable[dict[str, Any]], data_settings: dict[str, Any] | None = None) -> float | None:
    """Corpus WER of the rows that have a reference and a hypothesis (None when none has)."""
    return scores_of(rows, data_settings).get("wer")


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
