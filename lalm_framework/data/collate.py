"""Padding collate: audio -> Whisper log-mel, texts -> prompt + target tokens (`LalmBatch`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from lalm_framework.data.batch import AUDIO_TOKEN, IGNORE_INDEX, LalmBatch
from lalm_framework.errors import UserError

DEFAULT_TEMPLATE = AUDIO_TOKEN + "{prompt}"

log = logging.getLogger(__name__)


def check_prompt_template(template: str, where: str = "dataset.prompt_template") -> None:
    """The template must hold AUDIO_TOKEN exactly once (where the audio embeddings go)."""
    n = template.count(AUDIO_TOKEN)
    if n != 1:
        raise UserError(
            f"{where}={template!r} contains {AUDIO_TOKEN} {n} times; it must contain it once "
            f"(where the audio goes), e.g. '{AUDIO_TOKEN}Transcribe:'."
        )


Prompts = Mapping[str, str | Sequence[str]]  # task -> its prompt, or its variants (first: evaluation)


def prompt_variants(prompts: Prompts, task: str) -> list[str]:
    """The prompt variants of `task` (a lone string is one variant)."""
    value = prompts[task]
    return [value] if isinstance(value, str) else list(value)


def check_prompts(prompts: Any, where: str = "dataset.prompts") -> None:
    """Each task's prompt is a string or a non-empty list of strings."""
    for task, value in dict(prompts or {}).items():
        ok = isinstance(value, str) or (
            isinstance(value, Sequence) and len(value) > 0 and all(isinstance(v, str) for v in value)
        )
        if not ok:
            raise UserError(
                f"{where}.{task}={value!r}: give the task's prompt, or a list of variants "
                f"(drawn per training example; evaluation uses the first), e.g. ['Transcribe:', 'Write down:']."
            )


class LalmCollator:
    """Turns examples `{id, key, audio, text, prompt, task, draw}` into a `LalmBatch`.

    A task's prompt is `prompts[task]`, or one of its variants: `draw` (a seeded number per
    training example) picks it; without one (evaluation), the first. A tokenizer with a chat
    template (an instruct LLM's) gets the prompt as the user turn of `apply_chat_template`,
    unless `chat_template=False`; others get the template's text as it is.

    Labels are IGNORE_INDEX on prompt, audio and padding positions: the loss covers the target
    tokens and the closing eos only.
    """

    def __init__(
        self,
        tokenizer: Any,
        feature_extractor: Any,
        prompt_template: str | Mapping[str, str],
        prompts: Prompts | None = None,
        default_task: str = "transcribe",
        max_target_tokens: int | None = None,
        cache_features: bool = False,
        chat_template: bool | None = None,
    ) -> None:
        for template in _templates(prompt_template).values():
            check_prompt_template(template)
        check_prompts(prompts)
        for name in ("pad_token_id", "eos_token_id"):
            if getattr(tokenizer, name, None) is None:
                raise UserError(f"The tokenizer has no {name[:-3]}; set one on the model's tokenizer.")
        audio_id = tokenizer.convert_tokens_to_ids(AUDIO_TOKEN)
        if audio_id is None or audio_id == tokenizer.unk_token_id:
            raise UserError(f"The tokenizer does not know {AUDIO_TOKEN}: add it as a special token.")
        has_chat = bool(getattr(tokenizer, "chat_template", None))
        if chat_template and not has_chat:
            raise UserError("dataset.chat_template=true, but the tokenizer has no chat template; set it to null.")
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self.prompt_template = prompt_template
        self.prompts = dict(prompts or {})
        self.default_task = default_task
        self.max_target_tokens = max_target_tokens
        self.chat = has_chat if chat_template is None else bool(chat_template)
        self.audio_id = audio_id
        self._prompt_cache: dict[str, list[int]] = {}
        # audio key (source + span) -> (log-mel, valid frames); features are deterministic, so reuse is exact
        self.feature_cache: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = {} if cache_features else None

    def prompt_text(self, prompt: str | None = None, task: str | None = None, draw: int | None = None) -> str:
        """The full prompt of one example: its task's template with its instruction filled in."""
        name = task or self.default_task
        if prompt is None:
            if self.prompts and name not in self.prompts:
                raise UserError(
                    f"No prompt for task '{name}': add dataset.prompts.{name}=... (known: {', '.join(self.prompts)})."
                )
            variants = prompt_variants(self.prompts, name) if name in self.prompts else [""]
            prompt = variants[draw % len(variants)] if draw is not None else variants[0]
        templates = _templates(self.prompt_template)
        template = templates.get(name, templates.get("default", DEFAULT_TEMPLATE))
        return template.replace("{prompt}", prompt)

    def prompt_ids(self, text: str) -> list[int]:
        ids = self._prompt_cache.get(text)
        if ids is None:
            if self.chat:
                # the chat template adds the model's own turn markers (and bos) around the prompt
                chat = self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
                )
                ids = self.tokenizer(chat, add_special_tokens=False)["input_ids"]
            else:
                # add_special_tokens: the tokenizer adds its own bos convention (Llama yes, Qwen no)
                ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]
            if ids.count(self.audio_id) != 1:
                raise UserError(
                    f"The prompt {text!r} tokenizes to {ids.count(self.audio_id)} audio "
                    f"tokens; it must have exactly one {AUDIO_TOKEN}."
                )
            self._prompt_cache[text] = ids
        return ids

    def features(self, examples: Sequence[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Whisper log-mel [B, n_mels, frames] padded to the encoder's window, and valid frames [B]."""
        cache = self.feature_cache
        rows: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for i, e in enumerate(examples):
            if cache is not None and e.get("key") in cache:
                rows[i] = cache[e["key"]]
        missing = [i for i in range(len(examples)) if i not in rows]
        if missing:
            fe = self.feature_extractor
            out = fe(
                [np.asarray(examples[i]["audio"], dtype=np.float32) for i in missing],
                sampling_rate=fe.sampling_rate,
                return_tensors="pt",
                padding="max_length",
                return_attention_mask=True,
            )
            for j, i in enumerate(missing):
                rows[i] = (out["input_features"][j].clone(), out["attention_mask"][j].sum())
                if cache is not None and examples[i].get("key"):
                    cache[examples[i]["key"]] = rows[i]
        return (
            torch.stack([rows[i][0] for i in range(len(examples))]),
            torch.stack([rows[i][1] for i in range(len(examples))]),
        )

    def __call__(self, batch: Sequence[dict[str, Any] | None]) -> LalmBatch:
        examples = [e for e in batch if e is not None]  # unreadable audio under skip_bad_audio
        if not examples:
            raise UserError("A whole batch of audio could not be read; check the data (see the log).")
        features, feature_lengths = self.features(examples)
        tasks = [e.get("task") or self.default_task for e in examples]
        texts = [self.prompt_text(e.get("prompt"), t, e.get("draw")) for e, t in zip(examples, tasks, strict=True)]
        prompts = [self.prompt_ids(text) for text in texts]
        targets = self.tokenizer([e["text"] for e in examples], add_special_tokens=False)["input_ids"]
        eos = self.tokenizer.eos_token_id
        if self.max_target_tokens is not None:
            targets = [t[: self.max_target_tokens] for t in targets]
        seqs = [p + t + [eos] for p, t in zip(prompts, targets, strict=True)]
        n, width, p_width = len(seqs), max(map(len, seqs)), max(map(len, prompts))
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((n, width), pad, dtype=torch.long)
        attention_mask = torch.zeros((n, width), dtype=torch.long)
        labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
        prompt_input_ids = torch.full((n, p_width), pad, dtype=torch.long)
        prompt_attention_mask = torch.zeros((n, p_width), dtype=torch.long)
        for i, (p, t, s) in enumerate(zip(prompts, targets, seqs, strict=True)):
            input_ids[i, : len(s)] = torch.tensor(s)
            attention_mask[i, : len(s)] = 1
            labels[i, len(p) : len(s)] = torch.tensor(t + [eos], dtype=torch.long)
            # left padding: generation continues right after the prompt's last token
            prompt_input_ids[i, p_width - len(p) :] = torch.tensor(p)
            prompt_attention_mask[i, p_width - len(p) :] = 1
        return LalmBatch(
            ids=[e["id"] for e in examples],
            input_features=features,
            feature_lengths=feature_lengths,
            input_ids=input_ids,
            attention_mask=attention_mask,
            labels=labels,
            prompt_input_ids=prompt_input_ids,
            prompt_attention_mask=prompt_attention_mask,
            texts=[e["text"] for e in examples],
            tasks=tasks,
            counted=[not e.get("duplicate") for e in examples],
        )


def _templates(template: str | Mapping[str, str]) -> dict[str, str]:
    """Task -> template ("default": for tasks not named)."""
    return {"default": template} if isinstance(template, str) else dict(template)
