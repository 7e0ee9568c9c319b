"""Step II of the convolution operator: ACmix-style shift-and-sum over the Step-I features.

For output channel c the three Step-I features of that channel, (q_c, k_c, v_c), are projected by
``W_P[c, :, a, b]`` into k x k shifted maps ``y~^(a,b)`` that are shifted by ``(a - p, b - p)`` and
summed (AUTONAD.md §2)::

    y_c(i, j) = sum_(a,b) sum_(t in q,k,v) W_P[c, t, a, b] * t_c(i + a - p, j + b - p)

That sum is exactly a grouped k x k convolution (one group per channel, three inputs per group), so it
runs as one ``F.conv2d`` call instead of k^2 shifted copies; a test checks it against the explicit
shift-and-sum. Channel mixing is done by the shared Step-I and output projections around it, as in
ACmix, which keeps the operator at ``3 k^2 C`` weights. The largest kernel is stored; a smaller kernel
is its centred window, and the padding ``k // 2`` keeps the map size.

``dense=True`` (the search space's ``conv_wp: dense``) makes W_P a full k x k convolution from all 3C
Step-I channels to C (``3 k^2 C^2`` weights), so the operator mixes channels spatially like the
hand-designed baselines' 3x3 convs. Width C uses ``W[:C, :3C]``: in the interleaved order the first 3C
inputs are exactly (q, k, v) of channels 0..C-1, so the slice is a plain leading slice.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autonad_core.ops.conv import centre_slice
from autonad_core.ops.tokens import map_to_tokens, tokens_to_map


def interleave_qkv(q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int]) -> Tensor:
    """Tokens ``(B, N, C)`` x3 -> map ``(B, 3C, H, W)`` ordered ``q_0, k_0, v_0, q_1, ...`` (group c)."""
    b, n, c = q.shape
    return tokens_to_map(torch.stack((q, k, v), dim=-1).reshape(b, n, 3 * c), hw)


class ShiftSumConv(nn.Module):
    """Fixed conv operator: ``nn.Conv2d(3C, C, k, groups=C)`` over interleaved (q, k, v).

    Shape:
        - q, k, v: ``(B, H*W, C)``
        - Output: ``(B, H*W, C)``
    """

    def __init__(self, dim: int, kernel_size: int, dense: bool = False) -> None:
        super().__init__()
        groups = 1 if dense else dim
        self.conv = nn.Conv2d(3 * dim, dim, kernel_size, padding=kernel_size // 2, groups=groups)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int]) -> Tensor:
        return map_to_tokens(self.conv(interleave_qkv(q, k, v, hw)))


class ElasticShiftSumConv(nn.Module):
    """Conv operator storing ``(max_dim, 3, K, K)``; a call uses ``W[:C, :, centre k x k]``.

    Shape:
        - q, k, v: ``(B, H*W, C)``
        - Output: ``(B, H*W, C)``
    """

    def __init__(self, max_dim: int, max_kernel: int, dense: bool = False) -> None:
        super().__init__()
        self.max_dim, self.max_kernel, self.dense = max_dim, max_kernel, dense
        inputs = 3 * max_dim if dense else 3
        self.weight = nn.Parameter(torch.empty(max_dim, inputs, max_kernel, max_kernel))
        self.bias = nn.Parameter(torch.zeros(max_dim))
        fan_out = max_kernel**2 * (max_dim if dense else 1)  # per group
        nn.init.normal_(self.weight, std=math.sqrt(2.0 / fan_out))

    def sliced(self, dim: int, kernel_size: int) -> tuple[Tensor, Tensor]:
        if not 0 < dim <= self.max_dim:
            raise ValueError(f"{dim} channels exceed max_dim {self.max_dim}")
        rows = self.weight[:dim, : 3 * dim] if self.dense else self.weight[:dim]
        return centre_slice(rows, kernel_size), self.bias[:dim]

    def forward(self, q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int], kernel_size: int) -> Tensor:
        c = q.shape[-1]
        weight, bias = self.sliced(c, kernel_size)
        groups = 1 if self.dense else c
        y = F.conv2d(interleave_qkv(q, k, v, hw), weight, bias, padding=kernel_size // 2, groups=groups)
        return map_to_tokens(y)

    def export_state(self, dim: int, kernel_size: int) -> dict[str, Tensor]:
        weight, bias = self.sliced(dim, kernel_size)
        return {"conv.weight": weight.detach().clone(), "conv.bias": bias.detach().clone()}

    def extra_repr(self) -> str:
        return f"max_dim={self.max_dim}, max_kernel={self.max_kernel}, dense={self.dense}"
