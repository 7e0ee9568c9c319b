"""Searchable MFAM decoder (AUTONAD.md §4): PPM on level 4, a DAG over the four levels, fusion head.

Graph. Nodes 0..3 are the backbone levels (strides 4, 8, 16, 32), projected to the decoder width by a
1x1 lateral conv (node 3 by the PPM instead). Decoder node ``4 + i`` lives at level
``node_levels[i]`` and computes ::

    n = ReLU(GN(base + sum_(e: src -> n) op_e(src)))

where ``base`` is the latest earlier node at the same level (an implicit identity, like an FPN
lateral) and the searched in-edges (1..max_in_degree of them, from any earlier node) each apply one
of the five ops at the coarser of the two resolutions. The default ``node_levels = (4, 3, 2, 1)``
gives a top-down pass that contains UPerNet's FPN as one point of the space (and bottom-up edges as
others). The last node of each level is that level's output; the four outputs are resized to level
1, concatenated, fused by a 1x1 conv-GN-ReLU and classified; logits are resized to the input size.
Every node is used by construction (each is a level output or the base of a later node).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autonad_core.models.arch import NUM_LEVELS, DecoderArch
from autonad_core.ops.conv import ElasticConv2d
from autonad_core.ops.decoder_layers import (
    ConvNormAct,
    ElasticConvNormAct,
    SearchableEdge,
    edge_output,
    resize_to,
)
from autonad_core.ops.norm import make_group_norm


class SearchablePPM(nn.Module):
    """Pyramid pooling (PSPNet) with a searchable set of pool sizes, on elastic-width input.

    Each pool size has its own branch (adaptive average pool -> 1x1 conv -> GN -> ReLU -> upsample).
    The 3x3 bottleneck over ``concat(x, branches)`` stores its input-channel blocks separately (one
    for ``x``, one per pool size), so a branch's weights mean the same thing whichever other branches
    are active; the used blocks are concatenated inside ``forward``.

    Shape:
        - Input: ``(B, C, H, W)`` with ``C <= max_in``
        - Output: ``(B, channels, H, W)``
    """

    def __init__(self, max_in: int, channels: int, pool_sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.max_in, self.channels, self.pool_sizes = max_in, channels, tuple(pool_sizes)
        self.branches = nn.ModuleDict({str(s): ElasticConvNormAct(max_in, channels, 1) for s in pool_sizes})
        self.bottleneck_x = ElasticConv2d(max_in, channels, 3, bias=False)
        self.bottleneck_branch = nn.ParameterDict(
            {str(s): nn.Parameter(torch.empty(channels, channels, 3, 3)) for s in pool_sizes}
        )
        for weight in self.bottleneck_branch.values():
            nn.init.normal_(weight, std=(2.0 / (9 * channels)) ** 0.5)
        self.norm = make_group_norm(channels)

    def bottleneck_weight(self, in_channels: int, sizes: tuple[int, ...]) -> Tensor:
        x_part, _ = self.bottleneck_x.sliced(in_channels, self.channels, 3)
        return torch.cat([x_part, *(self.bottleneck_branch[str(s)] for s in sizes)], dim=1)

    def forward(self, x: Tensor, sizes: tuple[int, ...]) -> Tensor:
        feats = [x]
        for s in sizes:
            feats.append(resize_to(self.branches[str(s)](F.adaptive_avg_pool2d(x, s)), x.shape[-2:]))
        y = F.conv2d(torch.cat(feats, dim=1), self.bottleneck_weight(x.shape[1], sizes), padding=1)
        return F.relu(self.norm(y))

    def export_state(self, in_channels: int, sizes: tuple[int, ...]) -> dict[str, Tensor]:
        state = {"bottleneck.weight": self.bottleneck_weight(in_channels, sizes).detach().clone()}
        state.update({f"norm.{k}": v.detach().clone() for k, v in self.norm.state_dict().items()})
        for s in sizes:
            state.update(
                {f"branches.{s}.{k}": v for k, v in self.branches[str(s)].export_state(in_channels).items()}
            )
        return state

    def extra_repr(self) -> str:
        return f"max_in={self.max_in}, channels={self.channels}, pool_sizes={self.pool_sizes}"


class SearchableMFAM(nn.Module):
    """The MFAM decoder of the supernet; ``forward(feats, dec, out_size)`` runs the decoder ``dec``.

    Shape:
        - Input: four maps ``(B, C_l, H_l, W_l)``, ``C_l <= max_widths[l]``
        - Output: ``(B, num_classes, *out_size)``
    """

    def __init__(
        self,
        max_widths: tuple[int, ...],
        channels: int,
        node_levels: tuple[int, ...],
        edge_ops: tuple[str, ...],
        pool_sizes: tuple[int, ...],
        num_classes: int,
        sharing: str = "cross",
    ) -> None:
        super().__init__()
        self.channels, self.node_levels = channels, tuple(node_levels)
        self.laterals = nn.ModuleList(
            ElasticConvNormAct(w, channels, 1) for w in max_widths[: NUM_LEVELS - 1]
        )
        self.ppm = SearchablePPM(max_widths[-1], channels, pool_sizes)
        num_nodes = NUM_LEVELS + len(node_levels)
        self.edges = nn.ModuleDict(
            {
                f"{src}_{dst}": SearchableEdge(channels, edge_ops, shared=sharing != "classical")
                for dst in range(NUM_LEVELS, num_nodes)
                for src in range(dst)
            }
        )
        self.node_norms = nn.ModuleList(make_group_norm(channels) for _ in node_levels)
        self.fuse = ConvNormAct(NUM_LEVELS * channels, channels, 1)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, feats: list[Tensor], dec: DecoderArch, out_size: tuple[int, int]) -> Tensor:
        if dec.node_levels != self.node_levels or dec.channels != self.channels:
            raise ValueError(f"decoder arch {dec.node_levels}/{dec.channels} does not fit this supernet")
        values = [lateral(f) for lateral, f in zip(self.laterals, feats, strict=False)]
        values.append(self.ppm(feats[-1], dec.ppm_pool_sizes))
        for i in range(len(dec.node_levels)):
            node = NUM_LEVELS + i
            total = values[dec.base_node(node)]
            for e in dec.incoming(node):
                edge = self.edges[f"{e.src}_{e.dst}"]
                total = total + edge_output(
                    lambda t, edge=edge, op=e.op: edge(t, op),
                    values[e.src],
                    dec.node_level(e.src),
                    dec.node_level(node),
                    total.shape[-2:],
                )
            values.append(F.relu(self.node_norms[i](total)))
        outs = [values[n] for n in dec.level_outputs()]
        fused = self.fuse(torch.cat([resize_to(o, outs[0].shape[-2:]) for o in outs], dim=1))
        return resize_to(self.classifier(fused), out_size)

    def export_state(self, dec: DecoderArch, widths: tuple[int, ...]) -> dict[str, Tensor]:
        """State dict of :class:`autonad_core.models.subnet_mfam.MFAM` for ``dec`` on backbone ``widths``."""
        state: dict[str, Tensor] = {}
        for i, lateral in enumerate(self.laterals):
            state.update({f"laterals.{i}.{k}": v for k, v in lateral.export_state(widths[i]).items()})
        state.update(
            {f"ppm.{k}": v for k, v in self.ppm.export_state(widths[-1], dec.ppm_pool_sizes).items()}
        )
        for e in dec.edges:
            name = f"{e.src}_{e.dst}"
            state.update({f"edges.{name}.{k}": v for k, v in self.edges[name].export_state(e.op).items()})
        for module_name in ("node_norms", "fuse", "classifier"):
            sub = getattr(self, module_name).state_dict()
            state.update({f"{module_name}.{k}": v.detach().clone() for k, v in sub.items()})
        return state
