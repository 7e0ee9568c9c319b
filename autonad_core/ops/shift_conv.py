"""Step II of the convolution operator: ACmix-style shift-and-sum over the Step-I features.

For output channel c the three Step-I features of that channel, (q_c, k_c, v_c), are projected by
``W_P[c, :, a, b]`` into k x k shifted maps ``y~^(a,b)`` that are shifted by ``(a - p, b - p)`` and
summed (AUTONAD.md §2)::

    y_c(i, j) = sum_(a,b) sum_(t in q,k,v) W_P[c, t, a, b] * t_c(i + a - p, j + b - p)

That sum is a grouped k x k convolution (one group per channel, three inputs per group), so it needs
no k^2 shifted copies; a test checks it against the explicit shift-and-sum. It runs as one *depthwise*
convolution over ``[q | k | v]`` (3C maps, one filter each) whose three C-channel thirds are then summed:
the same arithmetic, but CPU kernels run depthwise convolutions far faster than groups of three inputs
(measured with 1 thread, batch 1, 32 channels at 32x32: 8.4 -> 0.5 ms for k = 5; 64 at 16x16: 1.2 -> 0.2
ms for k = 3; training steps 1.4-1.9x faster), and no interleaving copy is made. Channel mixing is
done by the shared Step-I and output projections around it, as in ACmix, which keeps the operator at
``3 k^2 C`` weights. The largest kernel is stored; a smaller kernel is its centred window, and the
padding ``k // 2`` keeps the map size.

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


def shift_sum(
    q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int], weight: Tensor, bias: Tensor, dense: bool
) -> Tensor:
    """Step II with ``weight`` ``(C, 3, k, k)`` (grouped) or ``(C, 3C, k, k)`` (dense, interleaved
    inputs) and ``bias`` ``(C,)``. Tokens ``(B, N, C)`` x3 -> ``(B, N, C)``."""
    kernel = weight.shape[-1]
    if dense:
        y = F.conv2d(interleave_qkv(q, k, v, hw), weight, bias, padding=kernel // 2)
        return map_to_tokens(y)
    c = q.shape[-1]
    stacked = tokens_to_map(torch.cat((q, k, v), dim=-1), hw)  # (B, 3C, H, W): q maps, k maps, v maps
    per_input = weight.transpose(0, 1).reshape(3 * c, 1, kernel, kernel)  # row t*C + c = W[c, t]
    y = F.conv2d(stacked, per_input, None, padding=kernel // 2, groups=3 * c)
    return map_to_tokens(y.unflatten(1, (3, c)).sum(1) + bias.view(1, c, 1, 1))


class ShiftSumConv(nn.Module):
    """Fixed conv operator: the weights of ``nn.Conv2d(3C, C, k, groups=C)`` over interleaved (q, k, v)
    (the exported state dict's layout), computed by `shift_sum`.

    Shape:
        - q, k, v: ``(B, H*W, C)``
        - Output: ``(B, H*W, C)``
    """

    def __init__(self, dim: int, kernel_size: int, dense: bool = False) -> None:
        super().__init__()
        self.dense = dense
        groups = 1 if dense else dim  # the weights' layout; `shift_sum` computes with them
        self.conv = nn.Conv2d(3 * dim, dim, kernel_size, padding=kernel_size // 2, groups=groups)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int]) -> Tensor:
        return shift_sum(q, k, v, hw, self.conv.weight, self.conv.bias, self.dense)


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
        weight, bias = self.sliced(q.shape[-1], kernel_size)
        return shift_sum(q, k, v, hw, weight, bias, self.dense)

    def export_state(self, dim: int, kernel_size: int) -> dict[str, Tensor]:
        weight, bias = self.sliced(dim, kernel_size)
        return {"conv.weight": weight.detach().clone(), "conv.bias": bias.detach().clone()}

    def extra_repr(self) -> str:
        return f"max_dim={self.max_dim}, max_kernel={self.max_kernel}, dense={self.dense}"
