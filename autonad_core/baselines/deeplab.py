"""DeepLabv3+-style segmentation network (Chen et al., 2018) in plain torch, a baseline for the AutoNAD
benchmark: a ResNet-18-like encoder (output stride 16: the last stage dilated instead of strided), ASPP
(1x1 + three dilated 3x3 branches + image pooling), and the v3+ decoder fusing stride-4 features.
Narrower than the paper's ResNet-101 DeepLabv3+ (59 M params) so it trains on 2 CPU cores; `width`
scales every layer. GroupNorm instead of BatchNorm (small CPU batches).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


def _conv_norm_relu(
    in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, dilation: int = 1
) -> nn.Sequential:
    pad = dilation * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, pad, dilation=dilation, bias=False),
        _norm(out_ch),
        nn.ReLU(inplace=True),
    )


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv_norm_relu(in_ch, out_ch, 3, stride, dilation)
        self.conv2 = nn.Sequential(
            nn.Conv2d(out_ch, out_ch, 3, 1, dilation, dilation=dilation, bias=False), _norm(out_ch)
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and in_ch == out_ch
            else nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), _norm(out_ch))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.skip(x))


class ASPP(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, rates: tuple[int, ...] = (6, 12, 18)) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [_conv_norm_relu(in_ch, out_ch, 1)]
            + [_conv_norm_relu(in_ch, out_ch, 3, dilation=r) for r in rates]
        )
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_ch, out_ch, 1), nn.ReLU(inplace=True))
        self.project = _conv_norm_relu(out_ch * (len(rates) + 2), out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(x).expand(-1, -1, x.shape[2], x.shape[3])
        return self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))


class DeepLabV3Plus(nn.Module):
    """Shape: (N, in_channels, H, W) -> logits (N, num_classes, H, W) for any H, W."""

    def __init__(self, in_channels: int = 3, num_classes: int = 2, width: int = 32) -> None:
        super().__init__()
        self.in_channels, self.num_classes = in_channels, num_classes
        w = [width, width * 2, width * 4, width * 8]
        self.stem = nn.Sequential(_conv_norm_relu(in_channels, w[0], 3, 2), _conv_norm_relu(w[0], w[0], 3, 2))
        self.layer1 = nn.Sequential(BasicBlock(w[0], w[0]), BasicBlock(w[0], w[0]))  # stride 4
        self.layer2 = nn.Sequential(BasicBlock(w[0], w[1], 2), BasicBlock(w[1], w[1]))  # stride 8
        self.layer3 = nn.Sequential(BasicBlock(w[1], w[2], 2), BasicBlock(w[2], w[2]))  # stride 16
        self.layer4 = nn.Sequential(BasicBlock(w[2], w[3], 1, 2), BasicBlock(w[3], w[3], 1, 2))  # dilated
        self.aspp = ASPP(w[3], w[1])
        self.low = _conv_norm_relu(w[0], 48 if width >= 32 else w[0], 1)
        low_ch = 48 if width >= 32 else w[0]
        self.decoder = nn.Sequential(_conv_norm_relu(w[1] + low_ch, w[1]), _conv_norm_relu(w[1], w[1]))
        self.head = nn.Conv2d(w[1], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.layer1(self.stem(x))
        high = self.aspp(self.layer4(self.layer3(self.layer2(low))))
        high = F.interpolate(high, size=low.shape[-2:], mode="bilinear", align_corners=False)
        y = self.decoder(torch.cat([high, self.low(low)], dim=1))
        return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)
