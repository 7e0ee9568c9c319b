"""The MFAM decoder of a materialized subnet: only the chosen edges and PPM branches, plain layers.

Same graph semantics as :mod:`autonad_core.models.mfam` (read its docstring); nothing here slices or
dispatches on a search space.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autonad_core.models.arch import NUM_LEVELS, DecoderArch
from autonad_core.ops.decoder_layers import ConvNormAct, EdgeOp, edge_output, resize_to
from autonad_core.ops.norm import make_group_norm


class PPM(nn.Module):
    """Pyramid pooling with fixed pool sizes.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, channels, H, W)``
    """

    def __init__(self, in_channels: int, channels: int, pool_sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.pool_sizes = tuple(pool_sizes)
        self.branches = nn.ModuleDict(
            {str(s): ConvNormAct(in_channels, channels, 1) for s in self.pool_sizes}
        )
        self.bottleneck = nn.Conv2d(
            in_channels + len(pool_sizes) * channels, channels, 3, padding=1, bias=False
        )
        self.norm = make_group_norm(channels)

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for s in self.pool_sizes:
            feats.append(resize_to(self.branches[str(s)](F.adaptive_avg_pool2d(x, s)), x.shape[-2:]))
        return F.relu(self.norm(self.bottleneck(torch.cat(feats, dim=1))))

    def extra_repr(self) -> str:
        return f"pool_sizes={self.pool_sizes}"


class MFAM(nn.Module):
    """Fixed multi-level feature aggregation decoder.

    Shape:
        - Input: four maps ``(B, widths[l], H_l, W_l)``
        - Output: ``(B, num_classes, *out_size)``
    """

    def __init__(self, dec: DecoderArch, widths: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.dec = dec
        d = dec.channels
        self.laterals = nn.ModuleList(ConvNormAct(w, d, 1) for w in widths[: NUM_LEVELS - 1])
        self.ppm = PPM(widths[-1], d, dec.ppm_pool_sizes)
        self.edges = nn.ModuleDict({f"{e.src}_{e.dst}": EdgeOp(d, e.op) for e in dec.edges})
        self.node_norms = nn.ModuleList(make_group_norm(d) for _ in dec.node_levels)
        self.fuse = ConvNormAct(NUM_LEVELS * d, d, 1)
        self.classifier = nn.Conv2d(d, num_classes, 1)
        # Plain-int graph description, fixed at construction (keeps forward free of arch lookups).
        self._nodes = [
            (dec.base_node(n), [(e.src, dec.node_level(e.src), f"{e.src}_{e.dst}") for e in dec.incoming(n)])
            for n in range(NUM_LEVELS, dec.num_nodes)
        ]
        self._levels = [dec.node_level(n) for n in range(NUM_LEVELS, dec.num_nodes)]
        self._outputs = list(dec.level_outputs())

    def forward(self, feats: list[Tensor], out_size: tuple[int, int]) -> Tensor:
        values = [lateral(f) for lateral, f in zip(self.laterals, feats, strict=False)]
        values.append(self.ppm(feats[-1]))
        for i, (base, incoming) in enumerate(self._nodes):
            total = values[base]
            for src, src_level, name in incoming:
                total = total + edge_output(
                    self.edges[name], values[src], src_level, self._levels[i], total.shape[-2:]
                )
            values.append(F.relu(self.node_norms[i](total)))
        outs = [values[n] for n in self._outputs]
        fused = self.fuse(torch.cat([resize_to(o, outs[0].shape[-2:]) for o in outs], dim=1))
        return resize_to(self.classifier(fused), out_size)
