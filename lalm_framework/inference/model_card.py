"""The README.md model card of an export, written from the training run's `run.json`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from lalm_framework.models.schema import LalmModelConfig


def find_run_record(checkpoint: Path) -> tuple[Path, dict[str, Any] | None]:
    """(where run.json is expected, its content or None): `<run>/checkpoints/x.ckpt` -> `<run>/run.json`."""
    candidates = [checkpoint.parent.parent / "run.json", checkpoint.parent / "run.json"]
    for file in candidates:
        if file.is_file():
            try:
                record = json.loads(file.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                return file, None
            return file, record if isinstance(record, dict) else None
    return candidates[0], None


def model_card(cfg: LalmModelConfig, meta: dict[str, Any], run: dict[str, Any] | None) -> str:
    """Markdown: base models, data, how it was trained, metrics, usage, intended use and limits."""
    prompt = meta.get("prompt") or {}
    task = prompt.get("task", "transcribe")
    window = meta["feature_extractor"].get("chunk_length")
    lines = [
        "# Audio LLM exported by lalm-framework",
        "",
        f"A speech encoder, a projector and a causal LM that {_task_phrase(task)} "
        f"(audio up to {window} s per input). Exported with `lalm-export` from "
        f"`{meta['exported_from']['checkpoint']}`.",
        "",
        "## Model",
        "",
        f"- Speech encoder: {_part(cfg.encoder.path, cfg.encoder.config, cfg.encoder.freeze, 'Whisper-style encoder')}",
        f"- LLM: {_part(cfg.llm.path, cfg.llm.config, cfg.llm.freeze, 'Llama')}{_adaptation(cfg, meta)}",
        f"- Projector: {cfg.projector.kind}, {cfg.projector.stack} encoder frames per LLM embedding",
        f"- Prompt: `{prompt.get('prompt_template', '?')}` with {json.dumps(prompt.get('prompts', {}))}",
        f"- Decoding: {_decoding(cfg.generation.num_beams)}, at most {cfg.generation.max_new_tokens} new tokens",
        "",
    ]
    if run is None:
        lines += [
            "## Training",
            "",
            "No `run.json` was found beside the checkpoint: the training data, command and metrics "
            "of this model are unknown.",
            "",
        ]
    else:
        lines += _training(run, meta["exported_from"])
    lines += _metrics(meta["exported_from"], run)
    lines += _usage(meta)
    lines += [
        "## Intended use and limits",
        "",
        f"- Intended use: {_task_noun(task)} of audio like the training data (language, voices, "
        "recording conditions, vocabulary); measure the WER on your own data before relying on it.",
        f"- Audio longer than {window} s is cut to its first {window} s.",
        "- Not evaluated for fairness across speakers, accents or languages beyond the metrics above; "
        "not for decisions about people without human review.",
    ]
    if not (cfg.encoder.path and cfg.llm.path):
        lines.append(
            "- Parts trained from random initialisation on a small set learn that set's vocabulary "
            "only: expect errors on words it never saw."
        )
    return "\n".join(lines) + "\n"


def _task_phrase(task: str) -> str:
    return {"transcribe": "transcribes speech", "caption": "describes voices in words"}.get(task, f"does `{task}`")


def _task_noun(task: str) -> str:
    return {"transcribe": "speech transcription", "caption": "voice description"}.get(task, f"the task `{task}`")


def _part(path: str | None, config: dict[str, Any], frozen: bool, kind: str) -> str:
    if path:
        return f"`{path}` ({'frozen' if frozen else 'fine-tuned'})"
    sizes = ", ".join(f"{k}={v}" for k, v in config.items() if isinstance(v, int) and not isinstance(v, bool))
    return f"random-init {kind} ({sizes}), trained from scratch; its weights are in this folder"


def _adaptation(cfg: LalmModelConfig, meta: dict[str, Any]) -> str:
    notes = []
    if cfg.llm.quantization.load_in_4bit:
        notes.append(f"loaded in 4-bit {cfg.llm.quantization.quant_type} (QLoRA)")
    if cfg.lora.enabled:
        lora = f"LoRA r={cfg.lora.r}, alpha={cfg.lora.alpha} on {cfg.lora.target_modules}"
        merged = meta["weights"].get("merged_llm")
        notes.append(f"{lora}, merged into `{merged}/`" if merged else f"{lora} (`adapter/`)")
    return f"; {'; '.join(notes)}" if notes else ""


def _decoding(num_beams: int) -> str:
    return "greedy" if num_beams <= 1 else f"beam search ({num_beams} beams)"


def _training(run: dict[str, Any], source: dict[str, Any]) -> list[str]:
    lines = ["## Training data", ""]
    # the runner records the fingerprint per attempt (the data may change between attempts)
    attempts_with_data = [a["data"] for a in run.get("attempts") or [] if isinstance(a, dict) and a.get("data")]
    data = run.get("data_fingerprint") or run.get("data") or (attempts_with_data[-1] if attempts_with_data else None)
    dataset = (run.get("config") or {}).get("dataset") or {}
    if data:
        lines += ["```json", json.dumps(data, indent=2, ensure_ascii=False)[:4000], "```"]
    shown = {k: v for k, v in dataset.items() if v is not None and ("split" in k or "manifest" in k or k == "root")}
    lines += [f"- Dataset: `{dataset.get('_target_', '?')}`"] + [f"- {k}: `{v}`" for k, v in shown.items()]
    if not data and not shown:
        lines.append("- (not recorded in run.json)")
    git = run.get("git") or {}
    commit = (
        f"`{git.get('commit')}`{' (uncommitted changes)' if git.get('dirty') else ''}"
        if git
        else "not in a git repository"
    )
    versions = run.get("versions") or {}
    attempts = run.get("attempts") or []
    lines += [
        "",
        "## Training",
        "",
        f"- Command: `{shlex.join(str(a) for a in run.get('command', []))}` (in `{run.get('launch_dir', '?')}`)",
        f"- Git commit: {commit}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if k in _VERSIONS),
        f"- Attempts: {len(attempts)}, last {attempts[-1].get('status', '?') if attempts else '?'}; "
        f"steps: {_steps(run, source)}",
        "",
    ]
    return lines


def _steps(run: dict[str, Any], source: dict[str, Any]) -> str:
    """The exported checkpoint's step (epoch) in the run, and the run's own end when it differs."""
    run_steps = int((run.get("metrics") or {}).get("global_step", 0))
    step, epoch = source.get("global_step"), source.get("epoch")
    if step is None:
        return f"{run_steps} (the run's; this checkpoint's own step is not recorded)"
    ended = "" if int(step) == run_steps else f" (the run went on to step {run_steps})"
    return f"{int(step)} (epoch {epoch}) when this checkpoint was saved{ended}"


def _metrics(source: dict[str, Any], run: dict[str, Any] | None) -> list[str]:
    """The exported checkpoint's own metrics, each with where it comes from.

    Dev metrics: the validation before the checkpoint was saved, kept inside the checkpoint.
    Test metrics: run.json's, when that run tested this very file after training (`evaluated`).
    A run's final metrics are never shown as another checkpoint's.
    """
    from lalm_framework.scoring import format_metric
    from lalm_framework.trainer_addons.eval_sets import SPLIT_LABELS, split_metrics

    lines = ["## Metrics", ""]
    rows: list[tuple[str, str, float]] = []
    notes: list[str] = []
    validation = source.get("validation") or {}
    if validation.get("metrics"):
        rows += [("val", *kv) for kv in validation["metrics"].items()]
        at = f"epoch {validation.get('epoch')}, step {validation.get('global_step')}"
        same = validation.get("global_step") == source.get("global_step")
        notes.append(
            f"dev: measured on these weights at the validation of {at}, stored inside `"
            f"{Path(str(source.get('checkpoint'))).name}`"
            + ("" if same else f" (the checkpoint was saved later, at step {source.get('global_step')})")
        )
    tested = _tested_here(source, run)
    if tested:
        rows += [("test", k, v) for k, v in tested.items()]
        notes.append("test: from the run's run.json; that run tested this checkpoint after training")
    if not rows:
        why = "it holds no validation metrics (saved before any validation, or by an older lalm-framework)"
        return lines + [f"No metrics of this checkpoint are known: {why}.", ""]
    lines += ["| set | metric | value |", "|---|---|---|"]
    for split in ("val", "test"):
        groups = split_metrics({k: v for s, k, v in rows if s == split}, split)
        for name, values in groups.items():
            label = f"{SPLIT_LABELS[split]} {name or ('(all sets)' if len(groups) > 1 else '')}".rstrip()
            for metric, value in sorted(values.items(), key=lambda kv: (kv[0] == "loss", kv[0])):
                shown = format_metric(metric, value)
                lines.append(f"| {label} | {shown.rsplit(' ', 1)[0]} | {shown.rsplit(' ', 1)[1]} |")
    return lines + [""] + [f"- {n}." for n in notes] + [""]


def _tested_here(source: dict[str, Any], run: dict[str, Any] | None) -> dict[str, float]:
    """run.json's `test/...` metrics when that run evaluated this checkpoint file (else none)."""
    attempts = (run or {}).get("attempts") or []
    evaluated = attempts[-1].get("evaluated") if attempts and isinstance(attempts[-1], dict) else None
    here = source.get("checkpoint")
    if not evaluated or not here or Path(str(evaluated)).resolve() != Path(str(here)).resolve():
        return {}
    metrics = (run or {}).get("metrics") or {}
    return {k: float(v) for k, v in metrics.items() if k.startswith("test/") and isinstance(v, (int, float))}


_VERSIONS = ("lalm-framework", "torch", "pytorch-lightning", "transformers", "peft", "bitsandbytes")


def _usage(meta: dict[str, Any]) -> list[str]:
    lines = [
        "## Use",
        "",
        "```python",
        "import lalm_framework",
        'model = lalm_framework.load_pretrained("<this folder>")',
        'model.transcribe(["clip.flac"])',
        "```",
        "",
        "or `lalm-infer <this folder> <audio files, folders or JSONL manifests>`.",
    ]
    if meta["weights"].get("adapter") and meta["base_models"].get("llm"):
        lines += [
            "",
            f"The LoRA adapter alone: `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("
            f'"{meta["base_models"]["llm"]}"), "<this folder>/adapter")` (grow the base\'s embeddings to '
            "`len(tokenizer)` first if the tokenizer gained the audio token).",
        ]
    if meta["weights"].get("merged_llm"):
        lines += [
            "",
            f'The LLM alone: `AutoModelForCausalLM.from_pretrained("<this folder>/{meta["weights"]["merged_llm"]}")`.',
        ]
    return lines + [""]
