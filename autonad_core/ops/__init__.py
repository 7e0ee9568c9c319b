"""Elastic layers: each stores its largest weights and slices them inside ``forward``
(AUTONAD.md §3), plus the fixed-size counterparts a materialized subnet is built from."""

from autonad_core.ops.attention import SpatialReductionAttention, spatial_reduction_attention
from autonad_core.ops.conv import ElasticConv2d, centre_slice
from autonad_core.ops.drop_path import DropPath
from autonad_core.ops.linear import ElasticLinear
from autonad_core.ops.mix_ffn import ElasticMixFFN, MixFFN
from autonad_core.ops.norm import ElasticLayerNorm, group_norm_groups, make_group_norm
from autonad_core.ops.shift import K_SHIFTS, Q_SHIFTS, spatial_shift
from autonad_core.ops.shift_conv import ElasticShiftSumConv, ShiftSumConv
from autonad_core.ops.shift_mlp import ElasticShiftMLP, ShiftMLP
from autonad_core.ops.split_attention import ElasticSplitAttention, SplitAttention
from autonad_core.ops.tokens import map_to_tokens, tokens_to_map

__all__ = [
    "K_SHIFTS",
    "Q_SHIFTS",
    "DropPath",
    "ElasticConv2d",
    "ElasticLayerNorm",
    "ElasticLinear",
    "ElasticMixFFN",
    "ElasticShiftMLP",
    "ElasticShiftSumConv",
    "ElasticSplitAttention",
    "MixFFN",
    "ShiftMLP",
    "ShiftSumConv",
    "SpatialReductionAttention",
    "SplitAttention",
    "centre_slice",
    "group_norm_groups",
    "make_group_norm",
    "map_to_tokens",
    "spatial_reduction_attention",
    "spatial_shift",
    "tokens_to_map",
]
