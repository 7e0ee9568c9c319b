"""Token <-> feature-map layout, in one place.

Blocks work on tokens ``(B, N, C)`` with ``N = H * W`` in row-major order (token ``i * W + j`` is
pixel ``(i, j)``); convolutions need maps ``(B, C, H, W)``. Every conversion goes through these two
functions, so the layout cannot be scrambled by a reshape that assumes another axis order (the
authors' code reshaped ``(B, 3*heads, N, d)`` as if it were ``(B, N, 3C)``; see AUTONAD.md §9.1).
"""

from __future__ import annotations

import torch
from torch import Tensor


def tokens_to_map(x: Tensor, hw: tuple[int, int]) -> Tensor:
    """``(B, H*W, C)`` -> ``(B, C, H, W)``."""
    b, n, c = x.shape
    h, w = hw
    if not torch.jit.is_tracing() and n != h * w:  # shapes are traced values under jit.trace
        raise ValueError(f"token count {n} does not match map size {h}x{w}")
    return x.transpose(1, 2).reshape(b, c, h, w)


def map_to_tokens(x: Tensor) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, H*W, C)``."""
    return x.flatten(2).transpose(1, 2)
