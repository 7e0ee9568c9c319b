"""Elastic layers and Step-II operators against independent reference computations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from autonad_core.ops import (
    ElasticConv2d,
    ElasticLayerNorm,
    ElasticLinear,
    ElasticMixFFN,
    ElasticShiftSumConv,
    ShiftSumConv,
    centre_slice,
    map_to_tokens,
    spatial_reduction_attention,
    tokens_to_map,
)
from autonad_core.ops.attention import reduce_tokens
from autonad_core.ops.decoder_layers import SearchableEdge
from autonad_core.ops.shift_conv import interleave_qkv


def test_token_layout_is_row_major_for_non_square_maps():
    b, c, h, w = 2, 3, 4, 7
    fmap = torch.randn(b, c, h, w)
    tokens = map_to_tokens(fmap)
    for i in range(h):
        for j in range(w):
            assert torch.equal(tokens[:, i * w + j, :], fmap[:, :, i, j])
    assert torch.equal(tokens_to_map(tokens, (h, w)), fmap)
    with pytest.raises(ValueError, match="does not match"):
        tokens_to_map(tokens, (w, w))


def test_elastic_linear_uses_leading_block():
    layer = ElasticLinear(16, 12)
    x = torch.randn(3, 5, 10)
    ref = x @ layer.weight[:7, :10].T + layer.bias[:7]
    torch.testing.assert_close(layer(x, 7), ref)
    with pytest.raises(ValueError, match="exceeds"):
        layer(torch.randn(2, 17))


@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_elastic_conv_kernel_is_the_centred_window(k):
    conv = ElasticConv2d(8, 6, 7, stride=2)
    x = torch.randn(1, 5, 13, 11)
    p = (7 - k) // 2
    ref = F.conv2d(x, conv.weight[:4, :5, p : p + k, p : p + k], conv.bias[:4], stride=2, padding=k // 2)
    torch.testing.assert_close(conv(x, 4, k), ref)
    assert conv(x, 4, k).shape[-2:] == (7, 6)  # ceil(13 / 2), ceil(11 / 2)


def test_centre_slice_rejects_off_centre_sizes():
    with pytest.raises(ValueError, match="centred window"):
        centre_slice(torch.zeros(1, 1, 5, 5), 4)


def test_elastic_layer_norm_matches_nn_layer_norm():
    norm = ElasticLayerNorm(16)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(2, 9, 12)
    ref = F.layer_norm(x, (12,), norm.weight[:12], norm.bias[:12], 1e-6)
    torch.testing.assert_close(norm(x), ref)


def test_conv_operator_equals_explicit_shift_and_sum():
    """y_c(i,j) = sum_(a,b) sum_t W[c,t,a,b] t_c(i+a-p, j+b-p): the paper's Step II, term by term."""
    op = ElasticShiftSumConv(12, 7)
    torch.nn.init.normal_(op.bias)
    b, c, h, w, k = 2, 8, 6, 9, 5
    q, kk, v = (torch.randn(b, h * w, c) for _ in range(3))
    maps = [tokens_to_map(t, (h, w)) for t in (q, kk, v)]
    weight = op.weight[:c, :, 1:6, 1:6]  # centred 5x5 of the stored 7x7
    p = k // 2
    ref = op.bias[:c].view(1, c, 1, 1).expand(b, c, h, w).clone()
    for a in range(k):
        for bb in range(k):
            # y~^(a,b): per-channel projection of (q, k, v) with W[:, :, a, b] ...
            proj = sum(weight[:, t, a, bb].view(1, c, 1, 1) * maps[t] for t in range(3))
            # ... moved so that output (i, j) reads input (i + a - p, j + bb - p); zero outside.
            padded = F.pad(proj, (p, p, p, p))
            ref = ref + padded[:, :, a : a + h, bb : bb + w]
    out = tokens_to_map(op(q, kk, v, (h, w), k), (h, w))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dense", [False, True])
def test_fixed_conv_operator_is_its_state_dicts_conv2d(dense):
    """The materialized operator computes what its exported weights mean: ``nn.Conv2d(3C, C, k,
    groups=C or 1)`` over interleaved (q, k, v), although it runs the grouped form depthwise."""
    b, c, h, w, k = 2, 6, 5, 7, 5
    op = ShiftSumConv(c, k, dense)
    torch.nn.init.normal_(op.conv.bias)
    q, kk, v = (torch.randn(b, h * w, c) for _ in range(3))
    ref = map_to_tokens(op.conv(interleave_qkv(q, kk, v, (h, w))))
    torch.testing.assert_close(op(q, kk, v, (h, w)), ref, atol=1e-5, rtol=1e-5)


def test_attention_matches_per_head_reference():
    b, h, w, c, heads = 2, 6, 5, 64, 2
    q, k, v = (torch.randn(b, h * w, c) for _ in range(3))
    out = spatial_reduction_attention(q, k, v, (h, w), heads, sr_ratio=2)
    kr, vr = reduce_tokens(k, (h, w), 2), reduce_tokens(v, (h, w), 2)
    assert kr.shape[1] == 3 * 3  # ceil(6/2) * ceil(5/2)
    d = c // heads
    for head in range(heads):
        sl = slice(head * d, (head + 1) * d)
        for n in (0, 7, h * w - 1):
            scores = (q[:, n, sl].unsqueeze(1) * kr[:, :, sl]).sum(-1) / d**0.5
            ref = (scores.softmax(-1).unsqueeze(-1) * vr[:, :, sl]).sum(1)
            torch.testing.assert_close(out[:, n, sl], ref, atol=1e-5, rtol=1e-5)


def test_spatial_reduction_averages_partial_border_windows():
    x = torch.arange(5 * 3, dtype=torch.float32).view(1, 15, 1)  # 5x3 map, value = i*3 + j
    pooled = tokens_to_map(reduce_tokens(x, (5, 3), 2), (3, 2))[0, 0]
    fmap = x.view(5, 3)
    assert pooled[2, 1] == fmap[4, 2]  # a 1x1 border window is its own mean
    assert pooled[0, 0] == fmap[:2, :2].mean()
    assert pooled[2, 0] == fmap[4, :2].mean()


def test_mix_ffn_matches_explicit_layers():
    ffn = ElasticMixFFN(16, 64)
    x = torch.randn(1, 4 * 5, 8)
    h = map_to_tokens(
        F.conv2d(
            tokens_to_map(F.linear(x, ffn.fc1.weight[:24, :8], ffn.fc1.bias[:24]), (4, 5)),
            ffn.dwconv.weight[:24],
            ffn.dwconv.bias[:24],
            padding=1,
            groups=24,
        )
    )
    ref = F.linear(F.gelu(h), ffn.fc2.weight[:8, :24], ffn.fc2.bias[:8])
    torch.testing.assert_close(ffn(x, (4, 5), 24), ref)


@pytest.mark.parametrize("shared", [True, False])
def test_edge_ops_match_their_definitions(shared):
    edge = SearchableEdge(6, ("conv1x1", "conv3x3", "conv5x5", "dil3x3", "dw3x3"), shared=shared)
    x = torch.randn(1, 6, 7, 8)
    w5 = edge.kernels["shared"] if shared else edge.kernels["conv5x5"]
    torch.testing.assert_close(edge(x, "conv5x5"), F.conv2d(x, w5, padding=2))
    w3 = w5[:, :, 1:4, 1:4] if shared else edge.kernels["conv3x3"]
    torch.testing.assert_close(edge(x, "conv3x3"), F.conv2d(x, w3, padding=1))
    wd = w5[:, :, 1:4, 1:4] if shared else edge.kernels["dil3x3"]
    torch.testing.assert_close(edge(x, "dil3x3"), F.conv2d(x, wd, padding=2, dilation=2))
    w1 = w5[:, :, 2:3, 2:3] if shared else edge.kernels["dw3x3"]
    ref = F.conv2d(F.conv2d(x, edge.dw, padding=1, groups=6), w1)
    torch.testing.assert_close(edge(x, "dw3x3"), ref)
    for op in edge.ops:
        assert edge(x, op).shape == x.shape
