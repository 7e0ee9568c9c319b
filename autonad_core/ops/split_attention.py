"""ViP / S2-MLPv2 split attention: recalibrate several branches with per-channel softmax weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autonad_core.ops.linear import ElasticLinear


def split_attend(branches: list[Tensor], logits: Tensor) -> Tensor:
    """``sum_i softmax_i(logits)[i] * branch_i`` with logits ``(B, n, C)`` and branches ``(B, N, C)``."""
    weights = logits.softmax(dim=1)
    return sum(weights[:, i].unsqueeze(1) * x for i, x in enumerate(branches))


class SplitAttention(nn.Module):
    """Fixed-width split attention: ``a = mean_N(sum branches)``, ``logits = fc2(GELU(fc1(a)))``.

    ``fc2`` is laid out branch-major: output ``i * C + c`` weighs channel ``c`` of branch ``i``.

    Shape:
        - Input: ``branches`` of ``(B, N, C)`` each
        - Output: ``(B, N, C)``
    """

    def __init__(self, dim: int, hidden: int, num_branches: int = 3) -> None:
        super().__init__()
        self.dim, self.num_branches = dim, num_branches
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, num_branches * dim)

    def forward(self, branches: list[Tensor]) -> Tensor:
        a = sum(branches).mean(dim=1)
        logits = self.fc2(F.gelu(self.fc1(a))).view(-1, self.num_branches, self.dim)
        return split_attend(branches, logits)


class ElasticSplitAttention(nn.Module):
    """Split attention storing the largest weights; hidden = C // reduction.

    ``fc2`` is stored as ``(branches, max_dim, max_hidden)`` so a width-C call takes the leading
    ``[:, :C, :hidden]`` block of every branch: each branch keeps its own rows at every width. A flat
    ``(3 * max_dim, hidden)`` matrix would need a strided row selection (the interleaving defect of
    AUTONAD.md §9.3).
    """

    def __init__(self, max_dim: int, num_branches: int = 3, reduction: int = 4) -> None:
        super().__init__()
        self.max_dim, self.num_branches, self.reduction = max_dim, num_branches, reduction
        self.fc1 = ElasticLinear(max_dim, self.hidden(max_dim))
        self.fc2_weight = nn.Parameter(torch.empty(num_branches, max_dim, self.hidden(max_dim)))
        self.fc2_bias = nn.Parameter(torch.zeros(num_branches, max_dim))
        nn.init.trunc_normal_(self.fc2_weight, std=0.02)

    def hidden(self, dim: int) -> int:
        return max(dim // self.reduction, 1)

    def fc2_sliced(self, dim: int) -> tuple[Tensor, Tensor]:
        hid = self.hidden(dim)
        weight = self.fc2_weight[:, :dim, :hid].reshape(self.num_branches * dim, hid)
        return weight, self.fc2_bias[:, :dim].reshape(-1)

    def forward(self, branches: list[Tensor]) -> Tensor:
        dim = branches[0].shape[-1]
        a = sum(branches).mean(dim=1)
        hidden = F.gelu(self.fc1(a, self.hidden(dim)))
        logits = F.linear(hidden, *self.fc2_sliced(dim)).view(-1, self.num_branches, dim)
        return split_attend(branches, logits)

    def export_state(self, dim: int) -> dict[str, Tensor]:
        weight, bias = self.fc2_sliced(dim)
        state = {f"fc1.{k}": v for k, v in self.fc1.export_state(dim, self.hidden(dim)).items()}
        state.update({"fc2.weight": weight.detach().clone(), "fc2.bias": bias.detach().clone()})
        return state

    def extra_repr(self) -> str:
        return f"max_dim={self.max_dim}, num_branches={self.num_branches}, reduction={self.reduction}"
