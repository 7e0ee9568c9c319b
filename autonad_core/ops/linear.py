"""Elastic linear layer: stores the largest weight, each call uses its leading block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ElasticLinear(nn.Module):
    """``y = x W[:out, :in]^T + b[:out]`` with ``in`` taken from the input (AUTONAD.md §3).

    Only leading slices are used (never a strided/interleaved row selection), so output channel ``j``
    is computed by the same weight row at every width. Slicing happens inside ``forward``: the slice
    is a view of the parameter, gradients flow into the stored largest weight and there is no copy
    that could go stale.

    Shape:
        - Input: ``(*, in)`` with ``in <= max_in``
        - Output: ``(*, out)``
    """

    def __init__(self, max_in: int, max_out: int, bias: bool = True) -> None:
        super().__init__()
        self.max_in, self.max_out = max_in, max_out
        self.weight = nn.Parameter(torch.empty(max_out, max_in))
        self.bias = nn.Parameter(torch.empty(max_out)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.weight, std=0.02)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def sliced(self, in_features: int, out_features: int) -> tuple[Tensor, Tensor | None]:
        if not (0 < in_features <= self.max_in and 0 < out_features <= self.max_out):
            raise ValueError(f"{in_features}->{out_features} exceeds {self.max_in}->{self.max_out}")
        bias = None if self.bias is None else self.bias[:out_features]
        return self.weight[:out_features, :in_features], bias

    def forward(self, x: Tensor, out_features: int | None = None) -> Tensor:
        weight, bias = self.sliced(x.shape[-1], out_features or self.max_out)
        return F.linear(x, weight, bias)

    def export_state(self, in_features: int, out_features: int) -> dict[str, Tensor]:
        """Detached copies of the used slice, named like ``nn.Linear``'s state dict."""
        weight, bias = self.sliced(in_features, out_features)
        state = {"weight": weight.detach().clone()}
        if bias is not None:
            state["bias"] = bias.detach().clone()
        return state

    def extra_repr(self) -> str:
        return f"max_in={self.max_in}, max_out={self.max_out}, bias={self.bias is not None}"
