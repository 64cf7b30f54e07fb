"""Audio encoder frames -> LLM embedding width, with temporal downsampling."""

from __future__ import annotations

import torch
from torch import nn


class Projector(nn.Module):
    """Downsample encoder frames by `stack` and map them to the LLM width.

    kind="mlp": concatenate `stack` consecutive frames, then Linear-GELU-Linear.
    kind="conv": a Conv1d with kernel = stride = `stack` (learned pooling), then GELU-Linear.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        stack: int = 4,
        kind: str = "mlp",
        hidden_size: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if stack < 1:
            raise ValueError(f"projector stack must be >= 1, got {stack}")
        if kind not in ("mlp", "conv"):
            raise ValueError(f"projector kind must be 'mlp' or 'conv', got {kind!r}")
        self.stack, self.kind = stack, kind
        hidden = hidden_size or out_dim
        if kind == "mlp":
            self.inp = nn.Linear(in_dim * stack, hidden)
        else:
            self.inp = nn.Conv1d(in_dim, hidden, kernel_size=stack, stride=stack)
        self.out = nn.Sequential(nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))

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
        return self.out(x)
