"""Step II of the transformer operator: multi-head spatial-reduction attention (PVT style).

Why spatial reduction: at stride 4 a 320x320 input gives 6400 tokens, so full attention costs
6400^2 per head; PVT's per-stage reduction r = 8/4/2/1 (AUTONAD.md §9) shrinks the key/value set by
r^2. We reduce by averaging the Step-I keys and values over r x r windows (as PVTv2-Li) instead of
PVT's learned r x r strided conv on the input, for two reasons: (1) Step I then stays literally the
same tensors q, k, v for all three operators, which is what cross weight sharing shares; (2) it adds
no parameters (a learned reduction would cost r^2 C^2 per block, ~1 M for four stage-1 blocks).
Averaging commutes with the linear Step-I projection, so this equals projecting the pooled input.
Windows at the right/bottom border may be partial (``ceil_mode``): any H, W works.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autonad_core.ops.tokens import map_to_tokens, tokens_to_map


def reduced_size(hw: tuple[int, int], sr_ratio: int) -> tuple[int, int]:
    """Key/value grid after an r x r reduction with partial border windows."""
    return (math.ceil(hw[0] / sr_ratio), math.ceil(hw[1] / sr_ratio)) if sr_ratio > 1 else hw


def reduce_tokens(x: Tensor, hw: tuple[int, int], sr_ratio: int) -> Tensor:
    """Average ``(B, H*W, C)`` tokens over r x r windows -> ``(B, ceil(H/r)*ceil(W/r), C)``."""
    if sr_ratio == 1:
        return x
    pooled = F.avg_pool2d(tokens_to_map(x, hw), sr_ratio, sr_ratio, ceil_mode=True)
    return map_to_tokens(pooled)


def spatial_reduction_attention(
    q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int], num_heads: int, sr_ratio: int
) -> Tensor:
    """``softmax(q_h k_h^T / sqrt(d)) v_h`` per head, concatenated; keys/values spatially reduced.

    Heads are the leading channel groups of size ``d = C / num_heads``.

    Shape:
        - q, k, v: ``(B, H*W, C)``
        - Output: ``(B, H*W, C)``
    """
    b, n, c = q.shape
    if not torch.jit.is_tracing() and c % num_heads:
        raise ValueError(f"{c} channels do not split into {num_heads} heads")
    d = c // num_heads
    k, v = reduce_tokens(k, hw, sr_ratio), reduce_tokens(v, hw, sr_ratio)
    m = k.shape[1]
    q = q.reshape(b, n, num_heads, d).transpose(1, 2)  # (B, h, N, d)
    k = k.reshape(b, m, num_heads, d).transpose(1, 2)  # (B, h, M, d)
    v = v.reshape(b, m, num_heads, d).transpose(1, 2)
    # Explicit matmuls rather than F.scaled_dot_product_attention: on CPU this is as fast for the
    # short reduced key sets here, and FLOP counters see it (the CPU SDPA kernel is not counted).
    attn = ((q * d**-0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
    return (attn @ v).transpose(1, 2).reshape(b, n, c)


class SpatialReductionAttention(nn.Module):
    """Fixed-heads module form of :func:`spatial_reduction_attention` (no parameters).

    Shape:
        - q, k, v: ``(B, H*W, C)``
        - Output: ``(B, H*W, C)``
    """

    def __init__(self, num_heads: int, sr_ratio: int) -> None:
        super().__init__()
        self.num_heads, self.sr_ratio = num_heads, sr_ratio

    def forward(self, q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int]) -> Tensor:
        return spatial_reduction_attention(q, k, v, hw, self.num_heads, self.sr_ratio)

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, sr_ratio={self.sr_ratio}"
