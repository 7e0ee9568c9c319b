"""U-Net (Ronneberger et al., 2015) in plain torch, a baseline for the AutoNAD benchmark.

Four down-sampling steps, double 3x3 conv blocks with GroupNorm (batch-size independent, like the
supernet's norms), bilinear up-sampling with skip concatenation. `base` channels double per level.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class DoubleConv(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
            _norm(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
            _norm(out_ch),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """Shape: (N, in_channels, H, W) -> logits (N, num_classes, H, W) for any H, W."""

    def __init__(self, in_channels: int = 3, num_classes: int = 2, base: int = 16, depth: int = 4) -> None:
        super().__init__()
        self.in_channels, self.num_classes = in_channels, num_classes
        widths = [base * 2**i for i in range(depth + 1)]
        self.stem = DoubleConv(in_channels, widths[0])
        self.down = nn.ModuleList(DoubleConv(widths[i], widths[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(
            DoubleConv(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(F.max_pool2d(skips[-1], 2, ceil_mode=True)))
        y = skips.pop()
        for block in self.up:
            skip = skips.pop()
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], dim=1))
        return self.head(y)
