"""Mix-FFN (SegFormer): Linear -> depthwise 3x3 conv -> GELU -> Linear, on tokens."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from autonad_core.ops.conv import ElasticConv2d
from autonad_core.ops.linear import ElasticLinear
from autonad_core.ops.tokens import map_to_tokens, tokens_to_map


class MixFFN(nn.Module):
    """Fixed-width Mix-FFN. The depthwise conv gives the tokens positional information.

    Shape:
        - Input: ``(B, H*W, C)``
        - Output: ``(B, H*W, C)``
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        x = self.dwconv(tokens_to_map(self.fc1(x), hw))
        return self.fc2(F.gelu(map_to_tokens(x)))


class ElasticMixFFN(nn.Module):
    """Mix-FFN storing the largest hidden width; a call takes leading slices for (C, hidden).

    Shape:
        - Input: ``(B, H*W, C)`` with ``C <= max_dim``
        - Output: ``(B, H*W, C)``
    """

    def __init__(self, max_dim: int, max_hidden: int) -> None:
        super().__init__()
        self.max_dim, self.max_hidden = max_dim, max_hidden
        self.fc1 = ElasticLinear(max_dim, max_hidden)
        self.dwconv = ElasticConv2d(max_hidden, max_hidden, 3, depthwise=True)
        self.fc2 = ElasticLinear(max_hidden, max_dim)

    def forward(self, x: Tensor, hw: tuple[int, int], hidden: int) -> Tensor:
        c = x.shape[-1]
        x = self.dwconv(tokens_to_map(self.fc1(x, hidden), hw))
        return self.fc2(F.gelu(map_to_tokens(x)), c)

    def export_state(self, dim: int, hidden: int) -> dict[str, Tensor]:
        parts = {
            "fc1": self.fc1.export_state(dim, hidden),
            "dwconv": self.dwconv.export_state(hidden, hidden, 3),
            "fc2": self.fc2.export_state(hidden, dim),
        }
        return {f"{name}.{k}": v for name, state in parts.items() for k, v in state.items()}

    def extra_repr(self) -> str:
        return f"max_dim={self.max_dim}, max_hidden={self.max_hidden}"
