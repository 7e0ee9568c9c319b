"""The AutoNAD supernet: a 4-stage hybrid backbone and the searchable MFAM decoder.

``net(x, arch)`` runs any architecture of its search space with the shared weights. Stage ``s``
starts with a patch embedding (7x7 stride 4 for stage 1, or the space's ``conv`` stem of two 3x3
stride-2 conv-norm-act layers; 3x3 stride 2 after; then LayerNorm), runs
``depth`` unified blocks (:mod:`autonad_core.models.blocks`) and ends with a LayerNorm; the four stage outputs
(strides 4, 8, 16, 32) feed the decoder (:mod:`autonad_core.models.mfam`). Inputs of any H, W work: every
resize uses exact target sizes.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from autonad_core.models.arch import NUM_STAGES, PATCH_KERNELS, PATCH_STRIDES, SR_RATIOS, Arch, StageArch
from autonad_core.models.blocks import LN_EPS, SHARING_MODES, SupernetBlock
from autonad_core.models.mfam import SearchableMFAM
from autonad_core.models.search_space import SearchSpace
from autonad_core.ops import ElasticConv2d, ElasticLayerNorm, map_to_tokens, tokens_to_map


class ElasticPatchEmbed(nn.Module):
    """Strided conv (elastic in/out channels) then LayerNorm; returns tokens and the new grid size.

    Shape:
        - Input: ``(B, C_in, H, W)``
        - Output: ``(B, H'*W', C_out)`` and ``(H', W')``, ``H' = ceil(H / stride)``
    """

    def __init__(self, max_in: int, max_out: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.proj = ElasticConv2d(max_in, max_out, kernel_size, stride=stride)
        self.norm = ElasticLayerNorm(max_out, LN_EPS)

    def forward(self, x: Tensor, width: int) -> tuple[Tensor, tuple[int, int]]:
        x = self.proj(x, width)
        hw = (x.shape[-2], x.shape[-1])
        return self.norm(map_to_tokens(x)), hw

    def export_state(self, in_channels: int, width: int) -> dict[str, Tensor]:
        conv = self.proj.export_state(in_channels, width, self.kernel_size)
        return {
            **{f"proj.{k}": v for k, v in conv.items()},
            **{f"norm.{k}": v for k, v in self.norm.export_state(width).items()},
        }


class ElasticConvStem(nn.Module):
    """The ``conv`` stem of stage 1: 3x3 stride-2 conv, LayerNorm, GELU, 3x3 stride-2 conv, LayerNorm;
    both convs elastic in their output width (the stage width). Same interface as the patch embedding.

    Shape:
        - Input: ``(B, C_in, H, W)``
        - Output: ``(B, H'*W', C_out)`` and ``(H', W')``, ``H' = ceil(ceil(H / 2) / 2)``
    """

    def __init__(self, max_in: int, max_out: int) -> None:
        super().__init__()
        self.conv1 = ElasticConv2d(max_in, max_out, 3, stride=2)
        self.norm1 = ElasticLayerNorm(max_out, LN_EPS)
        self.proj = ElasticConv2d(max_out, max_out, 3, stride=2)
        self.norm = ElasticLayerNorm(max_out, LN_EPS)

    def forward(self, x: Tensor, width: int) -> tuple[Tensor, tuple[int, int]]:
        x = self.conv1(x, width)
        hw = (x.shape[-2], x.shape[-1])
        x = tokens_to_map(F.gelu(self.norm1(map_to_tokens(x))), hw)
        x = self.proj(x, width)
        hw = (x.shape[-2], x.shape[-1])
        return self.norm(map_to_tokens(x)), hw

    def export_state(self, in_channels: int, width: int) -> dict[str, Tensor]:
        state = {}
        for name, conv, c_in in (("conv1", self.conv1, in_channels), ("proj", self.proj, width)):
            state.update({f"{name}.{k}": v for k, v in conv.export_state(c_in, width, 3).items()})
        for name, norm in (("norm1", self.norm1), ("norm", self.norm)):
            state.update({f"{name}.{k}": v for k, v in norm.export_state(width).items()})
        return state


class Supernet(nn.Module):
    """Weight-sharing supernet over a :class:`SearchSpace`.

    Args:
        space: the search space (default: the paper's Table I).
        in_channels: image channels (1 grey, 3 RGB, N multispectral).
        num_classes: segmentation classes including background.
        sharing: ``cross`` (default), ``entangled`` or ``classical``; see :mod:`autonad_core.models.blocks`.
        drop_path_rate: stochastic depth, linear from 0 to this over all block positions.

    Shape:
        - Input: ``(B, in_channels, H, W)``, any H, W
        - Output: ``(B, num_classes, H, W)`` logits
    """

    def __init__(
        self,
        space: SearchSpace | None = None,
        in_channels: int = 3,
        num_classes: int = 2,
        sharing: str = "cross",
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__()
        if sharing not in SHARING_MODES:
            raise ValueError(f"sharing must be one of {SHARING_MODES}, got {sharing!r}")
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"in_channels and num_classes must be >= 1, got {in_channels}, {num_classes}")
        self.space = space or SearchSpace()
        self.in_channels, self.num_classes, self.sharing = in_channels, num_classes, sharing
        self.drop_path_rate = drop_path_rate
        max_widths = tuple(self.space.max_width(s) for s in range(NUM_STAGES))
        positions = self.space.block_positions()
        rates = [drop_path_rate * i / max(len(positions) - 1, 1) for i in range(len(positions))]
        self.patch_embeds = nn.ModuleList()
        self.stages = nn.ModuleList()
        self.norms = nn.ModuleList()
        for s in range(NUM_STAGES):
            prev = in_channels if s == 0 else max_widths[s - 1]
            if s == 0 and self.space.stem == "conv":
                self.patch_embeds.append(ElasticConvStem(prev, max_widths[s]))
            else:
                self.patch_embeds.append(
                    ElasticPatchEmbed(prev, max_widths[s], PATCH_KERNELS[s], PATCH_STRIDES[s])
                )
            self.stages.append(
                nn.ModuleList(
                    SupernetBlock(
                        max_widths[s],
                        self.space.max_hidden(s),
                        self.space.kernel_sizes,
                        SR_RATIOS[s],
                        sharing=sharing,
                        drop_path=rates[positions.index((s, b))],
                        operators=self.space.operators,
                        dense_wp=self.space.conv_wp == "dense",
                    )
                    for b in range(self.space.max_depth(s))
                )
            )
            self.norms.append(ElasticLayerNorm(max_widths[s], LN_EPS))
        dec = self.space.decoder
        self.decoder = SearchableMFAM(
            max_widths, dec.channels, dec.node_levels, dec.edge_ops, dec.ppm_pool_sizes, num_classes, sharing
        )

    def block_module(self, stage: int, index: int) -> SupernetBlock:
        """The module that runs block position (stage, index); hook it to time that position."""
        return self.stages[stage][index]

    def forward_stage(self, x: Tensor, s: int, st: StageArch) -> Tensor:
        tokens, hw = self.patch_embeds[s](x, st.width)
        for b, blk in enumerate(st.blocks):
            tokens = self.stages[s][b](tokens, hw, blk)
        return tokens_to_map(self.norms[s](tokens), hw)

    def forward_features(self, x: Tensor, arch: Arch) -> list[Tensor]:
        """The four backbone levels ``(B, width_s, H / stride_s, W / stride_s)``."""
        feats = []
        for s, st in enumerate(arch.stages):
            x = self.forward_stage(x, s, st)
            feats.append(x)
        return feats

    def forward(self, x: Tensor, arch: Arch) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        self.space.validate(arch)
        feats = self.forward_features(x, arch)
        return self.decoder(feats, arch.decoder, (x.shape[-2], x.shape[-1]))

    def export_state(self, arch: Arch) -> dict[str, Tensor]:
        """State dict of ``Subnet(arch, in_channels, num_classes)``: copies of exactly the used slices."""
        self.space.validate(arch)
        state: dict[str, Tensor] = {}
        prev = self.in_channels
        for s, st in enumerate(arch.stages):
            prefix = f"stages.{s}"
            state.update(
                {
                    f"{prefix}.patch_embed.{k}": v
                    for k, v in self.patch_embeds[s].export_state(prev, st.width).items()
                }
            )
            for b, blk in enumerate(st.blocks):
                block_state = self.stages[s][b].export_state(blk, st.width)
                state.update({f"{prefix}.blocks.{b}.{k}": v for k, v in block_state.items()})
            state.update({f"{prefix}.norm.{k}": v for k, v in self.norms[s].export_state(st.width).items()})
            prev = st.width
        state.update(
            {f"decoder.{k}": v for k, v in self.decoder.export_state(arch.decoder, arch.widths).items()}
        )
        return state

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, num_classes={self.num_classes}, sharing={self.sharing!r}"
