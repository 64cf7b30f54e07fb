"""Audio encoder frames -> LLM embedding width, with temporal downsampling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lalm_framework.models.schema import ProjectorConfig, part_config


class Projector(nn.Module):
    """Downsample encoder frames by `stack` and map them to the LLM width.

    kind="mlp": concatenate `stack` consecutive frames, then Linear-GELU-Linear.
    kind="conv": a Conv1d with kernel = stride = `stack` (learned pooling), then GELU-Linear.
    `cfg`: a `ProjectorConfig`, a mapping of its fields, or the fields as keywords:

    >>> Projector(in_dim=32, out_dim=64, kind="mlp", stack=4)  # doctest: +SKIP
    """

    def __init__(
        self, in_dim: int, out_dim: int, cfg: ProjectorConfig | Mapping[str, Any] | None = None, **fields: Any
    ) -> None:
        super().__init__()
        cfg = part_config(ProjectorConfig, cfg, fields, "projector")
        check_projector(cfg)
        self.stack, self.kind = cfg.stack, cfg.kind
        hidden = cfg.hidden_size or out_dim
        self.inp: nn.Module
        if cfg.kind == "mlp":
            self.inp = nn.Linear(in_dim * cfg.stack, hidden)
        else:
            self.inp = nn.Conv1d(in_dim, hidden, kernel_size=cfg.stack, stride=cfg.stack)
        self.out = nn.Sequential(nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(hidden, out_dim))

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Projected frames per row, for `lengths` encoder frames (partial groups round up)."""
        return torch.div(lengths + self.stack - 1, self.stack, rounding_mode="floor")

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """[B, T, in_dim] -> [B, ceil(T / stack), out_dim]."""
        b, t, d = frames.shape
        pad = (-t) % self.stack
        if pad:
            frames = nn.functional.pad(frames, (0, 0, 0, pad))
        if self.kind == "mlp":
            x = self.inp(frames.reshape(b, (t + pad) // self.stack, d * self.stack))
        else:
            x = self.inp(frames.transpose(1, 2)).transpose(1, 2)
        out: torch.Tensor = self.out(x)
        return out


def check_projector(cfg: ProjectorConfig) -> None:
    """UserError for a projector kind or stack that does not exist."""
    from lalm_framework.errors import UserError

    if cfg.kind not in ("mlp", "conv"):
        raise UserError(f"model.projector.kind={cfg.kind!r}: use 'mlp' or 'conv'.")
    if cfg.stack < 1:
        raise UserError(f"model.projector.stack={cfg.stack}: must be >= 1 (frames stacked per embedding).")
