"""The audio LLM: encoder -> projector -> embeddings spliced into the prompt at AUDIO_TOKEN -> LLM."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from lalm_framework.data.batch import IGNORE_INDEX, LalmBatch
from lalm_framework.models.projector import Projector
from lalm_framework.models.schema import GenerationConfig

# prefixes FSDP and torch's checkpoint wrapper put into the parameter names of modules they wrap
WRAPPER_PREFIXES = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.")


class LALM(nn.Module):
    """Speech encoder + projector + causal LM.

    Each prompt holds AUDIO_TOKEN once; the model replaces that one position with the row's
    projected audio frames (only the frames of real audio, not the padding), so the LLM reads
    ``prompt-before, audio..., prompt-after, target``. Loss counts target tokens only (labels).
    """

    def __init__(
        self,
        encoder: nn.Module,
        projector: Projector,
        llm: nn.Module,
        audio_token_id: int,
        reload_prefixes: tuple[str, ...],
    ) -> None:
        super().__init__()
        self.encoder: nn.Module = encoder
        self.projector = projector
        self.llm: Any = llm  # a transformers causal LM, or a peft model around one
        self.audio_token_id = audio_token_id
        # parts whose frozen weights come back from a pretrained path ("encoder.", "llm.")
        self.reload_prefixes = reload_prefixes

    def encode_audio(self, features: torch.Tensor, feature_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mel [B, n_mels, T] -> (audio embeddings [B, N, D_llm], valid embeddings per row [B])."""
        frames = self.encoder(features.to(self._encoder_dtype())).last_hidden_state
        # the encoder's second conv halves the frame rate
        enc_lengths = torch.div(feature_lengths + 1, 2, rounding_mode="floor").clamp(1, frames.shape[1])
        audio = self.projector(frames.to(self._projector_dtype()))
        lengths = self.projector.output_lengths(enc_lengths).clamp(1, audio.shape[1])
        return audio, lengths

    def splice(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        audio: torch.Tensor,
        audio_lengths: torch.Tensor,
        labels: torch.Tensor | None = None,
        pad_left: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Replace each row's AUDIO_TOKEN by its audio embeddings; re-pad rows (left or right)."""
        found = (input_ids == self.audio_token_id) & attention_mask.bool()
        counts = found.sum(1)
        if (counts != 1).any():
            row = int((counts != 1).nonzero()[0])
            raise ValueError(
                f"each prompt must contain the audio placeholder exactly once; row {row} "
                f"has it {int(counts[row])} times (check the dataset's prompt template)"
            )
        embed = self.llm.get_input_embeddings()
        # the placeholder's own embedding is never used (it may lie beyond a pretrained vocabulary)
        safe_ids = input_ids.masked_fill(found, 0)
        text = embed(safe_ids)
        audio = audio.to(text.dtype)
        rows_e: list[torch.Tensor] = []
        rows_l: list[torch.Tensor] = []
        for i in range(input_ids.shape[0]):
            keep = attention_mask[i].bool()
            e, pos = text[i, keep], int(found[i, keep].nonzero())
            a = audio[i, : int(audio_lengths[i])]
            rows_e.append(torch.cat([e[:pos], a, e[pos + 1 :]]))
            if labels is not None:
                lab = labels[i, keep]
                ignore = lab.new_full((a.shape[0],), IGNORE_INDEX)
                rows_l.append(torch.cat([lab[:pos], ignore, lab[pos + 1 :]]))
        width = max(r.shape[0] for r in rows_e)
        out_e = text.new_zeros(len(rows_e), width, text.shape[-1])
        out_m = attention_mask.new_zeros(len(rows_e), width)
        out_l = None if labels is None else labels.new_full((len(rows_e), width), IGNORE_INDEX)
        for i, e in enumerate(rows_e):
            sl = slice(width - e.shape[0], width) if pad_left else slice(0, e.shape[0])
            out_e[i, sl], out_m[i, sl] = e, 1
            if out_l is not None:
                out_l[i, sl] = rows_l[i]
        return out_e, out_m, out_l

    def forward(
        self,
        input_features: torch.Tensor,
        feature_lengths: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> Any:
        """Teacher-forced pass; with `labels`, `.loss` is the mean CE over target tokens."""
        audio, lengths = self.encode_audio(input_features, feature_lengths)
        embeds, mask, labels = self.splice(input_ids, attention_mask, audio, lengths, labels)
        return self.llm(inputs_embeds=embeds, attention_mask=mask, labels=labels)

    @torch.no_grad()
    def generate(
        self,
        input_features: torch.Tensor,
        feature_lengths: torch.Tensor,
        prompt_input_ids: torch.Tensor,
        prompt_attention_mask: torch.Tensor,
        **generate_kwargs: Any,
    ) -> torch.Tensor:
        """New token ids [B, n] continuing each (audio-spliced) prompt; greedy unless told otherwise."""
        audio, lengths = self.encode_audio(input_features, feature_lengths)
        embeds, mask, _ = self.splice(prompt_input_ids, prompt_attention_mask, audio, lengths, pad_left=True)
        generate_kwargs.setdefault("do_sample", False)
        out: torch.Tensor = self.llm.generate(inputs_embeds=embeds, attention_mask=mask, **generate_kwargs)
        return out

    def transcribe(self, batch: LalmBatch, tokenizer: Any, generation: GenerationConfig) -> list[str]:
        """Hypotheses of a batch as text: greedy (or beam) generation after each prompt, decoded."""
        out = self.generate(
            batch["input_features"],
            batch["feature_lengths"],
            batch["prompt_input_ids"],
            batch["prompt_attention_mask"],
            max_new_tokens=generation.max_new_tokens,
            num_beams=generation.num_beams,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        return [str(t).strip() for t in tokenizer.batch_decode(out, skip_special_tokens=True)]

    def _encoder_dtype(self) -> torch.dtype:
        return next(self.encoder.parameters()).dtype

    def _projector_dtype(self) -> torch.dtype:
        return next(self.projector.parameters()).dtype

    def weights_to_save(self, keys: Iterable[str] | None = None) -> list[str]:
        """State-dict keys a checkpoint or export must hold: all but the frozen weights of
        pretrained parts, which reload from their path (`reload_prefixes`).

        `keys`: the state-dict keys to choose from (default: this model's own); under FSDP, give
        the keys of the gathered state dict (the sharded model's own state dict is a collective).
        """
        trainable = {unwrapped_name(n) for n, p in self.named_parameters() if p.requires_grad}
        skip = self.reload_prefixes
        names = self.state_dict().keys() if keys is None else keys
        return [k for k in names if k in trainable or not k.startswith(skip)]


def unwrapped_name(name: str) -> str:
    """A parameter name as the unwrapped model has it (FSDP and checkpoint wrappers add prefixes).

    >>> unwrapped_name("llm._fsdp_wrapped_module.model.layers.0.mlp.weight")
    'llm.model.layers.0.mlp.weight'
    """
    for prefix in WRAPPER_PREFIXES:
        name = name.replace(prefix, "")
    return name


def set_trainable_by_regex(module: nn.Module, freeze: Sequence[str] = (), unfreeze: Sequence[str] = ()) -> list[str]:
    """Freeze parameters whose name matches any `freeze` regex, then unfreeze `unfreeze` matches.

    `re.search` semantics (a pattern may match anywhere in the dotted name). Quantized
    (integer) parameters cannot train and are skipped. Returns the names left trainable.
    """
    fr = [re.compile(p) for p in freeze]
    un = [re.compile(p) for p in unfreeze]
    names = [n for n, _ in module.named_parameters()]
    for option, pats in (("freeze", fr), ("unfreeze", un)):
        for r in pats:
            if not any(r.search(n) for n in names):
                from lalm_framework.errors import UserError

                raise UserError(
                    f"model.{option} pattern {r.pattern!r} matches no parameter; "
                    f"parameter names look like {names[0]!r} ... {names[-1]!r}"
                )
    for name, p in module.named_parameters():
        if not p.is_floating_point():
            continue
        if any(r.search(name) for r in fr):
            p.requires_grad_(False)
        if any(r.search(name) for r in un):
            p.requires_grad_(True)
    return [n for n, p in module.named_parameters() if p.requires_grad]
