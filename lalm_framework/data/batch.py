"""The batch contract between the audio data layer and the LALM model.

The data layer builds these dicts in its collate function; the model consumes them. Both sides
import names from here, nothing else couples them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:  # no torch at import: the CLI's light paths read AUDIO_TOKEN from here
    import torch
    from typing_extensions import NotRequired  # typing's own from Python 3.11

# The one token in a prompt that the model replaces by the projected audio embeddings.
AUDIO_TOKEN = "<|audio|>"
# Positions that do not count in the loss (prompt, audio, padding).
IGNORE_INDEX = -100


class LalmBatch(TypedDict):
    ids: list[str]  # utterance ids
    input_features: torch.Tensor  # [B, n_mels, n_frames] Whisper log-mel, padded to the encoder's frames
    feature_lengths: torch.Tensor  # [B] valid mel frames per row
    input_ids: torch.Tensor  # [B, L] prompt (one AUDIO_TOKEN) + target + eos, right padded
    attention_mask: torch.Tensor  # [B, L]
    labels: torch.Tensor  # [B, L] IGNORE_INDEX except target tokens and eos
    prompt_input_ids: torch.Tensor  # [B, P] prompt only, LEFT padded (for generation)
    prompt_attention_mask: torch.Tensor  # [B, P]
    texts: list[str]  # reference target texts (transcripts or captions)
    tasks: list[str]  # each example's task name ("transcribe", "caption", ...): which metric scores it
    # False: a copy Lhotse's sampler gave this DDP rank at the end of an evaluation set (scored elsewhere)
    counted: NotRequired[list[bool]]
