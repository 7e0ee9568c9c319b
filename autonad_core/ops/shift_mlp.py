"""Step II of the MLP operator: S2-MLPv2 spatial shifts of q and k plus ViP split attention.

q is shifted down/up/right/left and k right/left/down/up (by channel, see :mod:`.shift`), v is kept;
split attention then weighs the three branches per channel. The MLP that follows is the block's
shared output projection and FFN.
"""

from __future__ import annotations

from torch import Tensor, nn

from autonad_core.ops.shift import K_SHIFTS, Q_SHIFTS, spatial_shift
from autonad_core.ops.split_attention import ElasticSplitAttention, SplitAttention
from autonad_core.ops.tokens import map_to_tokens, tokens_to_map


def shifted_branches(q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int]) -> list[Tensor]:
    q_s = map_to_tokens(spatial_shift(tokens_to_map(q, hw), Q_SHIFTS))
    k_s = map_to_tokens(spatial_shift(tokens_to_map(k, hw), K_SHIFTS))
    return [q_s, k_s, v]


class ShiftMLP(nn.Module):
    """Fixed-width MLP operator.

    Shape:
        - q, k, v: ``(B, H*W, C)``
        - Output: ``(B, H*W, C)``
    """

    def __init__(self, dim: int, reduction: int = 4) -> None:
        super().__init__()
        self.attn = SplitAttention(dim, max(dim // reduction, 1))

    def forward(self, q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int]) -> Tensor:
        return self.attn(shifted_branches(q, k, v, hw))


class ElasticShiftMLP(nn.Module):
    """MLP operator with elastic split attention (largest weights stored, leading slices used)."""

    def __init__(self, max_dim: int, reduction: int = 4) -> None:
        super().__init__()
        self.attn = ElasticSplitAttention(max_dim, num_branches=3, reduction=reduction)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int]) -> Tensor:
        return self.attn(shifted_branches(q, k, v, hw))

    def export_state(self, dim: int) -> dict[str, Tensor]:
        return {f"attn.{k}": v for k, v in self.attn.export_state(dim).items()}
