"""Elastic 2-D convolution: largest kernel stored, smaller kernels are its centred window."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def centre_slice(weight: Tensor, kernel_size: int) -> Tensor:
    """``W[..., p:p+k, p:p+k]`` with ``p = (K - k) // 2``: the centred k x k window of a K x K kernel."""
    big = weight.shape[-1]
    if kernel_size > big or (big - kernel_size) % 2:
        raise ValueError(f"kernel {kernel_size} is not a centred window of {big}")
    p = (big - kernel_size) // 2
    return weight[..., p : p + kernel_size, p : p + kernel_size]


class ElasticConv2d(nn.Module):
    """Conv whose call uses ``W[:out, :in, centre k x k]`` (AUTONAD.md §3).

    ``depthwise=True`` stores ``(max_channels, 1, K, K)`` and uses ``groups = channels``. Padding keeps
    ``ceil(size / stride)`` outputs for odd kernels: ``dilation * (k - 1) // 2``.

    Shape:
        - Input: ``(B, in, H, W)`` with ``in <= max_in``
        - Output: ``(B, out, H', W')``, ``H' = floor((H + 2p - dilation (k - 1) - 1) / stride) + 1``
    """

    def __init__(
        self,
        max_in: int,
        max_out: int,
        max_kernel: int,
        stride: int = 1,
        dilation: int = 1,
        depthwise: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if depthwise and max_in != max_out:
            raise ValueError("a depthwise conv has as many outputs as inputs")
        self.max_in, self.max_out, self.max_kernel = max_in, max_out, max_kernel
        self.stride, self.dilation, self.depthwise = stride, dilation, depthwise
        in_per_group = 1 if depthwise else max_in
        self.weight = nn.Parameter(torch.empty(max_out, in_per_group, max_kernel, max_kernel))
        self.bias = nn.Parameter(torch.empty(max_out)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # SegFormer / timm convention: normal with std sqrt(2 / fan_out).
        fan_out = self.max_kernel**2 * self.max_out // (self.max_out if self.depthwise else 1)
        nn.init.normal_(self.weight, std=math.sqrt(2.0 / fan_out))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def sliced(self, in_channels: int, out_channels: int, kernel_size: int) -> tuple[Tensor, Tensor | None]:
        if not (0 < in_channels <= self.max_in and 0 < out_channels <= self.max_out):
            raise ValueError(f"{in_channels}->{out_channels} exceeds {self.max_in}->{self.max_out}")
        if self.depthwise and in_channels != out_channels:
            raise ValueError(f"depthwise conv needs in == out, got {in_channels}->{out_channels}")
        rows = self.weight[:out_channels] if self.depthwise else self.weight[:out_channels, :in_channels]
        bias = None if self.bias is None else self.bias[:out_channels]
        return centre_slice(rows, kernel_size), bias

    def padding(self, kernel_size: int) -> int:
        return self.dilation * (kernel_size - 1) // 2

    def forward(self, x: Tensor, out_channels: int | None = None, kernel_size: int | None = None) -> Tensor:
        c_in = x.shape[1]
        c_out = c_in if self.depthwise else (out_channels or self.max_out)
        k = kernel_size or self.max_kernel
        weight, bias = self.sliced(c_in, c_out, k)
        groups = c_in if self.depthwise else 1
        return F.conv2d(x, weight, bias, self.stride, self.padding(k), self.dilation, groups)

    def export_state(self, in_channels: int, out_channels: int, kernel_size: int) -> dict[str, Tensor]:
        """Detached copies of the used slice, named like ``nn.Conv2d``'s state dict."""
        weight, bias = self.sliced(in_channels, out_channels, kernel_size)
        state = {"weight": weight.detach().clone()}
        if bias is not None:
            state["bias"] = bias.detach().clone()
        return state

    def extra_repr(self) -> str:
        return (
            f"max_in={self.max_in}, max_out={self.max_out}, max_kernel={self.max_kernel}"
            f", stride={self.stride}"
            f", dilation={self.dilation}, depthwise={self.depthwise}, bias={self.bias is not None}"
        )
