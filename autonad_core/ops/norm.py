"""Normalisation layers: elastic LayerNorm for tokens, GroupNorm with a valid group count.

No BatchNorm anywhere: a subnet evaluated with inherited supernet weights needs no statistics
recalibration.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ElasticLayerNorm(nn.Module):
    """LayerNorm over the last dim, using the leading ``C`` entries of the largest affine parameters.

    Shape:
        - Input: ``(*, C)`` with ``C <= max_dim``
        - Output: same shape
    """

    def __init__(self, max_dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.max_dim, self.eps = max_dim, eps
        self.weight = nn.Parameter(torch.ones(max_dim))
        self.bias = nn.Parameter(torch.zeros(max_dim))

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[-1]
        if c > self.max_dim:
            raise ValueError(f"{c} channels exceed max_dim {self.max_dim}")
        return F.layer_norm(x, (c,), self.weight[:c], self.bias[:c], self.eps)

    def export_state(self, dim: int) -> dict[str, Tensor]:
        return {"weight": self.weight[:dim].detach().clone(), "bias": self.bias[:dim].detach().clone()}

    def extra_repr(self) -> str:
        return f"max_dim={self.max_dim}, eps={self.eps}"


def group_norm_groups(channels: int, max_groups: int = 32, min_group_size: int = 4) -> int:
    """Largest group count ``g <= max_groups`` that divides ``channels`` with at least
    ``min_group_size`` channels per group (1 if none does).

    The authors' decoder computed a group count that did not divide the channel count for some widths
    (AUTONAD.md §9.6); here ``channels % g == 0`` always holds.
    """
    if channels <= 0:
        raise ValueError(f"channels must be positive, got {channels}")
    for g in range(min(max_groups, channels // min_group_size), 0, -1):
        if channels % g == 0:
            return g
    return 1


def make_group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(group_norm_groups(channels), channels)
