"""Weights as files: safetensors parts of a model, and the check that saved weights fit a model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from lalm_framework.errors import UserError


def save_tensors(tensors: Mapping[str, torch.Tensor], path: Path) -> None:
    """Write `tensors` as one safetensors file (tied weights are written once per name)."""
    from safetensors.torch import save_file

    # safetensors refuses tensors sharing memory (tied embeddings): each name gets its own copy
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, str(path), metadata={"format": "pt"})


def load_tensors(path: Path, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (no pickle involved); UserError if it cannot be read."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device=device)
    except (SafetensorError, OSError) as e:
        raise UserError(f"Cannot read {path}: {e}. Export the model again.") from None


def check_fits(
    model_state: Mapping[str, Any],
    saved: Mapping[str, Any],
    source: str,
    required: Iterable[str] | None = None,
    hint: str = "",
) -> None:
    """UserError unless the tensors `saved` fit `model_state` (same keys, same shapes).

    `required`: keys that must be present (default: all of `model_state`). The message names
    `source` (the file), the first mismatching weight and both shapes, then `hint` (the fix).
    """
    needed = list(model_state) if required is None else list(required)
    fix = hint or (
        "It was trained with another model configuration: use that configuration (its run's "
        ".hydra/config.yaml), or a checkpoint of this model."
    )
    shapes = [
        (k, tuple(v.shape), tuple(model_state[k].shape))
        for k, v in saved.items()
        if k in model_state and hasattr(v, "shape") and tuple(v.shape) != tuple(model_state[k].shape)
    ]
    if shapes:
        key, there, here = shapes[0]
        more = f" (and {len(shapes) - 1} more weights differ)" if len(shapes) > 1 else ""
        raise UserError(
            f"{source} does not fit this model: {key} has shape {list(there)} there but {list(here)} here{more}.\n{fix}"
        )
    unexpected = [k for k in saved if k not in model_state]
    missing = [k for k in needed if k not in saved]
    if unexpected or missing:
        what = (
            f"holds weights this model does not have ({unexpected[0]}{', ...' if len(unexpected) > 1 else ''})"
            if unexpected
            else f"lacks weights this model needs ({missing[0]}{', ...' if len(missing) > 1 else ''})"
        )
        raise UserError(f"{source} does not fit this model: it {what}.\n{fix}")
