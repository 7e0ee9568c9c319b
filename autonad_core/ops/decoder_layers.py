"""Layers of the MFAM decoder: conv-GN-ReLU units, the five candidate edge ops, resizing."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autonad_core.ops.conv import ElasticConv2d, centre_slice
from autonad_core.ops.norm import make_group_norm

# Kernel taken from an edge slot per op, and its dilation. dw3x3 = depthwise 3x3 then a 1x1.
EDGE_KERNEL: dict[str, int] = {"conv1x1": 1, "conv3x3": 3, "conv5x5": 5, "dil3x3": 3, "dw3x3": 1}
EDGE_DILATION: dict[str, int] = {"conv1x1": 1, "conv3x3": 1, "conv5x5": 1, "dil3x3": 2, "dw3x3": 1}
SLOT_KERNEL = 5


def resize_to(x: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """Bilinear resize to an exact size (any ratio, so inputs need not be multiples of 32)."""
    if not torch.jit.is_tracing() and tuple(x.shape[-2:]) == tuple(size):
        return x  # (a traced graph always resizes: same-size bilinear is an exact identity)
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def edge_output(op: nn.Module | callable, x: Tensor, src_level: int, dst_level: int, size) -> Tensor:
    """Run an edge op at the coarser of the two resolutions: a coarse-to-fine edge convolves then
    upsamples, a fine-to-coarse edge downsamples then convolves."""
    if src_level > dst_level:
        return resize_to(op(x), size)
    return op(resize_to(x, size))


def _kaiming_fan_out(weight: Tensor, groups: int = 1) -> None:
    fan_out = weight.shape[0] // groups * weight.shape[-1] * weight.shape[-2]
    nn.init.normal_(weight, std=math.sqrt(2.0 / fan_out))


class ConvNormAct(nn.Module):
    """Conv (no bias) -> GroupNorm -> ReLU.

    Shape:
        - Input: ``(B, in, H, W)``
        - Output: ``(B, out, H, W)``
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.norm = make_group_norm(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.norm(self.conv(x)))


class ElasticConvNormAct(nn.Module):
    """:class:`ConvNormAct` whose input width is elastic (leading input channels of the weight)."""

    def __init__(self, max_in: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.conv = ElasticConv2d(max_in, out_channels, kernel_size, bias=False)
        self.norm = make_group_norm(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.norm(self.conv(x)))

    def export_state(self, in_channels: int) -> dict[str, Tensor]:
        conv = self.conv.export_state(in_channels, self.conv.max_out, self.kernel_size)
        norm = {k: v.detach().clone() for k, v in self.norm.state_dict().items()}
        return {**{f"conv.{k}": v for k, v in conv.items()}, **{f"norm.{k}": v for k, v in norm.items()}}


class EdgeOp(nn.Module):
    """One fixed MFAM edge op (no bias; the destination node normalises the sum).

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: ``(B, C, H, W)``
    """

    def __init__(self, channels: int, op: str) -> None:
        super().__init__()
        self.op = op
        k, dil = EDGE_KERNEL[op], EDGE_DILATION[op]
        self.dw = (
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
            if op == "dw3x3"
            else None
        )
        self.conv = nn.Conv2d(channels, channels, k, padding=dil * (k - 1) // 2, dilation=dil, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.dw is not None:
            x = self.dw(x)
        return self.conv(x)

    def extra_repr(self) -> str:
        return f"op={self.op!r}"


class SearchableEdge(nn.Module):
    """A candidate MFAM edge slot running any of the five ops.

    With ``shared=True`` (cross / entangled sharing) the slot stores one 5x5 kernel: 1x1 and 3x3 are
    its centre windows, the dilated 3x3 uses the 3x3 centre with dilation 2, and dw3x3 is a per-channel
    3x3 (its own parameter) followed by the 1x1 centre. With ``shared=False`` (classical) every op has
    its own kernel. The depthwise weight is an ``nn.Parameter`` used directly in ``forward``, so it is
    trained (the authors' decoder detached it, AUTONAD.md §9.4).

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: ``(B, C, H, W)``
    """

    def __init__(self, channels: int, ops: tuple[str, ...], shared: bool = True) -> None:
        super().__init__()
        self.channels, self.ops, self.shared = channels, tuple(ops), shared
        shapes = {"shared": SLOT_KERNEL} if shared else {op: EDGE_KERNEL[op] for op in self.ops}
        self.kernels = nn.ParameterDict(
            {n: nn.Parameter(torch.empty(channels, channels, k, k)) for n, k in shapes.items()}
        )
        self.dw = nn.Parameter(torch.empty(channels, 1, 3, 3)) if "dw3x3" in self.ops else None
        for weight in self.kernels.values():
            _kaiming_fan_out(weight)
        if self.dw is not None:
            _kaiming_fan_out(self.dw, groups=channels)

    def kernel(self, op: str) -> Tensor:
        if op not in self.ops:
            raise ValueError(f"edge op {op!r} is not one of {self.ops}")
        return centre_slice(self.kernels["shared" if self.shared else op], EDGE_KERNEL[op])

    def forward(self, x: Tensor, op: str) -> Tensor:
        weight, dil = self.kernel(op), EDGE_DILATION[op]
        if op == "dw3x3":
            x = F.conv2d(x, self.dw, padding=1, groups=self.channels)
        return F.conv2d(x, weight, padding=dil * (weight.shape[-1] - 1) // 2, dilation=dil)

    def export_state(self, op: str) -> dict[str, Tensor]:
        state = {"conv.weight": self.kernel(op).detach().clone()}
        if op == "dw3x3":
            state["dw.weight"] = self.dw.detach().clone()
        return state

    def extra_repr(self) -> str:
        return f"channels={self.channels}, ops={self.ops}, shared={self.shared}"
