"""SpecAugment (Park et al., 2019): random frequency and time masks on log-mel features.

Training-time regulariser for small speech sets: the model cannot rely on any one band or
instant, which helps it generalise to unseen voices. torchaudio's masking transforms do not
import beside CPU-only torch here, hence these few lines.
"""

from __future__ import annotations

import torch

from lalm_framework.models.schema import SpecAugmentConfig


def spec_augment(
    features: torch.Tensor,
    lengths: torch.Tensor,
    cfg: SpecAugmentConfig,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A masked copy of `features` [B, n_mels, T]; masks fall inside each row's `lengths` frames.

    `cfg.freq_masks` / `cfg.time_masks` masks per row, each filled with the mean of the row's valid
    frames; widths drawn uniformly from [0, freq_width] mel bins and [0, time_width * length] frames.
    """
    freq_masks, freq_width, time_masks, time_width = cfg.freq_masks, cfg.freq_width, cfg.time_masks, cfg.time_width
    x = features.clone()
    b, n_mels, _ = x.shape

    def draw(high: float) -> int:
        return int(torch.randint(0, max(1, int(high)) + 1, (1,), generator=generator))

    for i in range(b):
        length = int(lengths[i])
        fill = x[i, :, :length].mean()
        for _ in range(freq_masks):
            w = min(draw(freq_width), n_mels)
            f0 = draw(n_mels - w)
            x[i, f0 : f0 + w, :length] = fill
        for _ in range(time_masks):
            w = min(draw(time_width * length), length)
            t0 = draw(length - w)
            x[i, :, t0 : t0 + w] = fill
    return x
