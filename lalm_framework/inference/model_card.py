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
        f"- Decoding: greedy, at most {cfg.generation.max_new_tokens} new tokens",
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
        lines += _training(run)
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


def _training(run: dict[str, Any]) -> list[str]:
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
        f"steps: {int((run.get('metrics') or {}).get('global_step', 0))}",
        "",
        "## Metrics",
        "",
    ]
    metrics = run.get("metrics") or {}
    named = [("dev WER", "val/wer"), ("test WER", "test/wer"), ("dev loss", "val/loss"), ("test loss", "test/loss")]
    rows = [(label, metrics[key]) for label, key in named if isinstance(metrics.get(key), (int, float))]
    if rows:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {label} | {100 * v:.2f}% |" if "WER" in label else f"| {label} | {v:.4f} |" for label, v in rows]
    else:
        lines.append("No dev/test metrics were recorded.")
    return lines + [""]


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
