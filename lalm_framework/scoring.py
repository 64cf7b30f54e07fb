"""How generated text is scored, per task: WER/CER after a text normalizer, BLEU/chrF, exact match.

Glue over whisper-normalizer (the normalizers), torchmetrics (WER, CER: total edits / total
reference words or characters, as jiwer counts them) and sacrebleu (BLEU, chrF), each imported
when first used. Training's `val/...` and `test/...` metrics and `lalm-infer`'s table are this
one computation, so they agree.

- `dataset.normalizer`: `none` (text as generated, whitespace split), `basic` (Whisper's
  BasicTextNormalizer: lower case, punctuation and bracketed tags dropped; the default) or
  `english` (Whisper's EnglishTextNormalizer: also spellings, contractions, numbers as digits).
- `dataset.metrics`: the metrics of each task, over `DEFAULT_TASK_METRICS`; a task not listed is
  scored with `OTHER_TASK_METRICS`. A `transcribe` set written without spaces between words
  (Chinese, Japanese, Thai, ...) also gets `cer`, unless `dataset.metrics.transcribe` is given.

Scales: `wer`, `cer` and `exact_match` are fractions (0.25 = 25%); `bleu` and `chrf` are
sacrebleu's 0-100 scores, on the text as generated (sacrebleu tokenizes it itself).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from lalm_framework.errors import UserError

NORMALIZERS = ("none", "basic", "english")
DEFAULT_NORMALIZER = "basic"
METRICS = ("wer", "cer", "bleu", "chrf", "exact_match")
DEFAULT_TASK_METRICS: dict[str, tuple[str, ...]] = {
    "transcribe": ("wer",),
    "caption": ("bleu",),
    "answer": ("exact_match",),
}
OTHER_TASK_METRICS = ("bleu",)
# the metrics of which lower is better (the rest: higher)
LOWER_IS_BETTER = frozenset({"wer", "cer"})
# scripts written without spaces between words: WER there counts whole sentences
_UNSPACED_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN")


def check_scoring(normalizer: Any, metrics: Any, where: str = "dataset") -> None:
    """UserError naming the option and the choices for an unknown normalizer or metric."""
    if normalizer not in NORMALIZERS:
        raise UserError(f"{where}.normalizer={normalizer!r}: use one of {', '.join(NORMALIZERS)}.")
    if metrics is None:
        return
    if not isinstance(metrics, Mapping):
        raise UserError(
            f"{where}.metrics={metrics!r}: give the metrics of each task, e.g. "
            f"{where}.metrics={{transcribe: [wer, cer], caption: [chrf]}}."
        )
    for task, names in metrics.items():
        listed = [names] if isinstance(names, str) else names
        if not isinstance(listed, Sequence) or not listed:
            raise UserError(f"{where}.metrics.{task}={names!r}: a list of metrics, e.g. [wer, cer].")
        unknown = [m for m in listed if m not in METRICS]
        if unknown:
            raise UserError(f"{where}.metrics.{task}: unknown metric {unknown[0]!r}; use {', '.join(METRICS)}.")


def metrics_option(metrics: Any, where: str = "dataset") -> dict[str, list[str]] | None:
    """`dataset.metrics` checked and as plain lists (from a config node, a dict, or None)."""
    if metrics is None:
        return None
    from omegaconf import OmegaConf

    if OmegaConf.is_config(metrics):  # plain containers for checkpoints
        metrics = OmegaConf.to_container(metrics, resolve=True)
    check_scoring(DEFAULT_NORMALIZER, metrics, where)
    return {str(task): [names] if isinstance(names, str) else list(names) for task, names in metrics.items()}


@cache
def normalizer(name: str) -> Callable[[str], str]:
    """The text normalizer `name` (see the module docstring), whitespace collapsed after it."""
    check_scoring(name, None)
    if name == "none":
        return lambda text: " ".join(text.split())
    if name == "basic":
        from whisper_normalizer.basic import BasicTextNormalizer

        norm: Callable[[str], str] = BasicTextNormalizer()
    else:
        from whisper_normalizer.english import EnglishTextNormalizer

        norm = EnglishTextNormalizer()
    return lambda text: " ".join(norm(text).split())


def is_unspaced(texts: Sequence[str]) -> bool:
    """Whether most letters of `texts` are in scripts written without spaces between words."""
    letters = [ch for t in texts for ch in t if ch.isalpha()]
    unspaced = sum(1 for ch in letters if unicodedata.name(ch, "").startswith(_UNSPACED_SCRIPTS))
    return bool(letters) and unspaced > len(letters) / 2


def task_metrics(task: str, references: Sequence[str], metrics: Mapping[str, Any] | None = None) -> list[str]:
    """The metrics that score `task` on these references (`dataset.metrics` over the defaults)."""
    given = dict(metrics or {})
    if task in given:
        names = given[task]
        return [names] if isinstance(names, str) else list(names)
    names = list(DEFAULT_TASK_METRICS.get(task, OTHER_TASK_METRICS))
    if task == "transcribe" and is_unspaced(references):
        names.append("cer")
    return names


def score(
    hypotheses: Sequence[str],
    references: Sequence[str],
    tasks: Sequence[str] | None = None,
    normalizer_name: str = DEFAULT_NORMALIZER,
    metrics: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """Corpus metrics of one evaluation set: `{metric: value}` (e.g. {"wer": 0.12}).

    Examples are grouped by task (`tasks[i]`, default all "transcribe"); each task's metrics are
    computed over its examples. Two tasks scored with the same metric name theirs
    `<task>_<metric>` (e.g. "caption_bleu", "translate_bleu").
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    tasks = list(tasks) if tasks is not None else ["transcribe"] * len(references)
    by_task: dict[str, list[int]] = {}
    for i, task in enumerate(tasks):
        by_task.setdefault(task, []).append(i)
    planned = {
        task: task_metrics(task, [references[i] for i in rows], metrics) for task, rows in sorted(by_task.items())
    }
    counts: dict[str, int] = {}
    for names in planned.values():
        for m in names:
            counts[m] = counts.get(m, 0) + 1
    out: dict[str, float] = {}
    for task, names in planned.items():
        hyps = [hypotheses[i] for i in by_task[task]]
        refs = [references[i] for i in by_task[task]]
        for m in names:
            out[m if counts[m] == 1 else f"{task}_{m}"] = metric_value(m, hyps, refs, normalizer_name)
    return out


def metric_value(metric: str, hypotheses: Sequence[str], references: Sequence[str], normalizer_name: str) -> float:
    """One corpus metric (see the module docstring for scales and normalization)."""
    if metric in ("bleu", "chrf"):
        import sacrebleu

        fn = sacrebleu.corpus_bleu if metric == "bleu" else sacrebleu.corpus_chrf
        return float(fn(list(hypotheses), [list(references)]).score)
    norm = normalizer(normalizer_name)
    hyps, refs = [norm(h) for h in hypotheses], [norm(r) for r in references]
    if metric == "exact_match":
        return sum(h == r for h, r in zip(hyps, refs, strict=True)) / max(1, len(refs))
    from torchmetrics.functional.text import char_error_rate, word_error_rate

    if metric == "wer":
        if not any(r.split() for r in refs):
            return float("nan")  # no reference word to count errors against
        return float(word_error_rate(hyps, refs))
    if metric == "cer":
        if not any(refs):
            return float("nan")
        return float(char_error_rate(hyps, refs))
    raise UserError(f"unknown metric {metric!r}; use {', '.join(METRICS)}.")


_LABELS = {"wer": "WER", "cer": "CER", "bleu": "BLEU", "chrf": "chrF", "exact_match": "exact match", "loss": "loss"}


def base_metric(key: str) -> str:
    """The metric of a `score` key: "caption_bleu" -> "bleu", "wer_raw" -> "wer"."""
    for m in (*METRICS, "loss"):
        if key == m or key.endswith(f"_{m}") or key.startswith(f"{m}_"):
            return m
    return key


def format_metric(key: str, value: float, digits: int = 2) -> str:
    """`key` and `value` as a person reads them: "WER 12.34%", "BLEU 23.10", "loss 0.4321"."""
    m = base_metric(key)
    label = key.replace(m, _LABELS.get(m, m)).replace("_", " ")
    if m in ("wer", "cer", "exact_match"):
        return f"{label} {100 * value:.{digits}f}%"
    return f"{label} {value:.4f}" if m == "loss" else f"{label} {value:.{digits}f}"
