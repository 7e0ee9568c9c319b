"""Out-of-place spatial shift (S2-MLP / S2-MLPv2).

Channel ``c`` moves one pixel in direction ``directions[c % 4]``; vacated border pixels become zero,
so a shift equals a depthwise conv with a one-hot 3x3 kernel. Assigning directions by ``c mod 4``
(instead of S2-MLP's contiguous channel quarters) keeps a channel's direction fixed when the width is
sliced: with quarters, channel 20 would move down at width 64 and up at width 128. The authors' code
shifted overlapping slices in place, so results depended on the order of the four assignments
(AUTONAD.md §9.2); this function never writes into its input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# (dy, dx): +dy moves content down, +dx moves content right.
Q_SHIFTS: tuple[tuple[int, int], ...] = ((1, 0), (-1, 0), (0, 1), (0, -1))  # down, up, right, left
K_SHIFTS: tuple[tuple[int, int], ...] = ((0, 1), (0, -1), (1, 0), (-1, 0))  # right, left, down, up


def shift_map(x: Tensor, dy: int, dx: int) -> Tensor:
    """Translate a ``(B, C, H, W)`` map by ``(dy, dx)`` pixels with zero fill (new tensor)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)))
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top : top + h, left : left + w]


def spatial_shift(x: Tensor, directions: tuple[tuple[int, int], ...]) -> Tensor:
    """Shift channel ``c`` of ``x`` (``(B, C, H, W)``) by ``directions[c % len(directions)]``."""
    groups = torch.arange(x.shape[1], device=x.device).remainder(len(directions)).view(1, -1, 1, 1)
    out = torch.zeros_like(x)
    for g, (dy, dx) in enumerate(directions):
        out = torch.where(groups == g, shift_map(x, dy, dx), out)
    return out
