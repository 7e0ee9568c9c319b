"""One test per defect of the authors' code (AUTONAD.md §9, items 1-6 and 9) proving it is absent."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from autonad_core import Arch, BlockArch, StageArch, Supernet, count_params, materialize
from autonad_core.models.blocks import SupernetBlock
from autonad_core.ops import (
    K_SHIFTS,
    Q_SHIFTS,
    ElasticSplitAttention,
    group_norm_groups,
    map_to_tokens,
    spatial_shift,
    tokens_to_map,
)


def _shift_block(op: str, kernel: int | None = None) -> tuple[SupernetBlock, BlockArch]:
    block = SupernetBlock(64, 128, (3, 5, 7), sr_ratio=1).eval()
    for p in block.parameters():  # break symmetries of the default init (zero biases, unit norms)
        torch.nn.init.normal_(p, std=0.2)
    return block, BlockArch(
        op=op, ffn_ratio=2.0, kernel_size=kernel, num_heads=2 if op == "transformer" else None
    )


# 1. token-layout scramble ----------------------------------------------------------------------
@pytest.mark.parametrize(("op", "kernel"), [("conv", 3), ("conv", 7), ("mlp", None)])
def test_1_conv_and_mlp_blocks_are_translation_equivariant(op, kernel):
    """Content away from the border, shifted by (2, 3), gives an output shifted by (2, 3). A reshape
    that mixes the token and channel axes would scramble positions and break this."""
    block, blk = _shift_block(op, kernel)
    h, w = 20, 17
    content = torch.zeros(1, 48, h, w)
    content[:, :, 6:12, 5:10] = torch.randn(1, 48, 6, 5)
    moved = torch.roll(content, shifts=(2, 3), dims=(2, 3))
    with torch.no_grad():
        out = tokens_to_map(block(map_to_tokens(content), (h, w), blk), (h, w))
        out_moved = tokens_to_map(block(map_to_tokens(moved), (h, w), blk), (h, w))
    m = 5  # stay clear of the frame border, where zero padding legitimately breaks equivariance
    shifted, reference = (
        out_moved[:, :, m + 2 : h - m, m + 3 : w - m],
        out[:, :, m : h - m - 2, m : w - m - 3],
    )
    torch.testing.assert_close(shifted, reference, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(out_moved[:, :, m : h - m - 2, m : w - m - 3], reference, atol=1e-3)


def test_1_attention_operator_is_token_permutation_equivariant():
    """Without spatial reduction (stage 4) attention is permutation-equivariant over tokens."""
    block, blk = _shift_block("transformer")
    tokens = torch.randn(2, 5 * 6, 48)
    perm = torch.randperm(30)
    with torch.no_grad():
        out = block.mix(tokens, (5, 6), blk)
        out_perm = block.mix(tokens[:, perm], (5, 6), blk)
    torch.testing.assert_close(out_perm, out[:, perm], atol=1e-5, rtol=1e-4)


# 2. in-place shifts --------------------------------------------------------------------------
def test_2_spatial_shift_is_out_of_place_and_equals_one_hot_convolution():
    x = torch.randn(2, 10, 6, 7, requires_grad=True)
    before, version = x.detach().clone(), x._version
    for directions in (Q_SHIFTS, K_SHIFTS):
        out = spatial_shift(x, directions)
        assert torch.equal(x.detach(), before) and x._version == version
        kernel = torch.zeros(10, 1, 3, 3)
        for c in range(10):
            dy, dx = directions[c % 4]
            kernel[c, 0, 1 - dy, 1 - dx] = 1.0  # output (i, j) reads input (i - dy, j - dx)
        torch.testing.assert_close(out, F.conv2d(before, kernel, padding=1, groups=10))
    out.sum().backward()  # an in-place write into a view of x would fail or corrupt this
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_2_shift_directions_do_not_depend_on_width():
    """Channel c keeps its direction when the width is sliced (c mod 4, not quarters)."""
    x = torch.randn(1, 64, 5, 5)
    torch.testing.assert_close(spatial_shift(x, Q_SHIFTS)[:, :32], spatial_shift(x[:, :32], Q_SHIFTS))


# 3. interleaved q/kv slicing -------------------------------------------------------------------
def test_3_step_one_at_width_c_is_the_leading_part_of_the_full_projection():
    """Projecting a width-c input equals the first c outputs of the full-width projection of the
    zero-padded input: output channel j means the same at every width (a stride-3 row slice fails)."""
    block, _ = _shift_block("conv", 3)
    full = torch.randn(3, 64)
    for c in (16, 32, 48):
        x = full[:, :c]
        padded = F.pad(x, (0, 64 - c))
        for step in block.step_one.values():
            for layer in (step.q, step.k, step.v, step.proj):
                torch.testing.assert_close(layer(x, c), layer(padded, 64)[:, :c])


def test_3_split_attention_branches_are_leading_slices():
    attn = ElasticSplitAttention(64)
    for c in (32, 48):
        weight, bias = attn.fc2_sliced(c)
        for branch in range(3):
            assert torch.equal(weight[branch * c : (branch + 1) * c], attn.fc2_weight[branch, :c, : c // 4])
            assert torch.equal(bias[branch * c : (branch + 1) * c], attn.fc2_bias[branch, :c])


# 4. detached depthwise decoder weights ----------------------------------------------------------
def _dw_arch(space) -> Arch:
    arch = space.smallest()
    edges = tuple(type(e)(e.src, e.dst, "dw3x3") for e in arch.decoder.edges)
    return Arch(
        arch.stages, type(arch.decoder)(arch.decoder.channels, arch.decoder.node_levels, edges, (1, 2))
    )


def test_4_decoder_depthwise_weights_are_trained(small_space):
    net = Supernet(small_space, in_channels=1, num_classes=3)
    arch = _dw_arch(small_space)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    edge = net.decoder.edges[f"{arch.decoder.edges[0].src}_{arch.decoder.edges[0].dst}"]
    before = edge.dw.detach().clone()
    F.cross_entropy(net(torch.randn(2, 1, 32, 32), arch), torch.randint(0, 3, (2, 32, 32))).backward()
    assert edge.dw.grad is not None and edge.dw.grad.abs().sum() > 0
    opt.step()
    assert not torch.equal(edge.dw.detach(), before)
    sub = materialize(net, arch)
    name = f"{arch.decoder.edges[0].src}_{arch.decoder.edges[0].dst}"
    assert torch.equal(sub.decoder.edges[name].dw.weight, edge.dw.detach())


# 5. stale weight copies ------------------------------------------------------------------------
def test_5_slices_are_taken_inside_forward_and_carry_gradients(small_space):
    net = Supernet(small_space, in_channels=1, num_classes=3).eval()
    arch = small_space.sample(random.Random(0))
    x = torch.randn(1, 1, 32, 32)
    y0 = net(x, arch)
    q = net.block_module(0, 0).step_one_for(arch.stages[0].blocks[0]).q
    width = arch.stages[0].width
    with torch.no_grad():
        q.weight[:width, :width] += 0.5  # change the stored largest weight in place
    y1 = net(x, arch)
    assert not torch.allclose(y0, y1)  # the very next forward sees it: no cached copy
    y1.sum().backward()
    grad = q.weight.grad
    assert grad[:width, :width].abs().sum() > 0  # gradient reaches the stored parameter ...
    assert grad[width:].abs().sum() == 0 and grad[:, width:].abs().sum() == 0  # ... only in the slice


# 6. GroupNorm group count -----------------------------------------------------------------------
def test_6_group_count_divides_channels_for_any_width():
    for channels in range(1, 600):
        g = group_norm_groups(channels)
        assert channels % g == 0 and 1 <= g <= 32
        assert g == 1 or channels // g >= 4


def test_6_every_group_norm_in_supernet_and_subnets_is_valid(mt_supernet, paper_space):
    subnets = [materialize(mt_supernet, paper_space.sample(random.Random(s))) for s in range(3)]
    norms = [m for net in (mt_supernet, *subnets) for m in net.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms
    for m in norms:
        assert m.num_channels % m.num_groups == 0
    norm = norms[0]
    x = torch.randn(2, norm.num_channels, 5, 5)
    size = norm.num_channels // norm.num_groups
    groups = x.view(2, norm.num_groups, size * 25)
    ref = (groups - groups.mean(-1, keepdim=True)) / (
        groups.var(-1, unbiased=False, keepdim=True) + norm.eps
    ).sqrt()
    ref = ref.view_as(x) * norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(norm(x), ref, atol=1e-5, rtol=1e-5)


# 9. parameter counts that skip layers ---------------------------------------------------------
def _distinct_values(net: torch.nn.Module) -> None:
    """Give every parameter element of ``net`` its own value in [-0.1, 0.1] (random order)."""
    params = list(net.parameters())
    n = sum(p.numel() for p in params)
    values = (torch.randperm(n, dtype=torch.float64) + 0.5) / n * 0.2 - 0.1
    with torch.no_grad():
        start = 0
        for p in params:
            p.copy_(values[start : start + p.numel()].view_as(p))
            start += p.numel()


@pytest.mark.parametrize("sharing", ["cross", "classical"])
def test_9_param_count_equals_the_supernet_elements_the_arch_uses(small_space, sharing):
    """Every supernet weight gets a unique value; the materialized subnet's values locate the elements
    it took. Poisoning every OTHER supernet element with NaN leaves supernet(x, arch) unchanged (the
    forward touches nothing else, NaN * 0 would still be NaN), and the number of located elements
    equals count_params and the subnet's own parameter count (no layer skipped or counted twice)."""
    net = Supernet(small_space, in_channels=2, num_classes=4, sharing=sharing).eval()
    _distinct_values(net)
    x = torch.randn(1, 2, 37, 41)
    for seed in range(3):
        arch = small_space.sample(random.Random(seed))
        sub = materialize(net, arch)
        taken = torch.cat([p.detach().flatten() for p in sub.parameters()]).sort().values
        with torch.no_grad():
            expected = net(x, arch)
            saved = [p.detach().clone() for p in net.parameters()]
            used = 0
            for p in net.parameters():
                flat = p.flatten()
                nearest = taken[torch.searchsorted(taken, flat).clamp(max=taken.numel() - 1)]
                mask = (nearest == flat).view_as(p)
                used += int(mask.sum())
                p.masked_fill_(~mask, float("nan"))
            poisoned = net(x, arch)
            for p, value in zip(net.parameters(), saved, strict=True):
                p.copy_(value)
        assert torch.isfinite(poisoned).all()
        torch.testing.assert_close(poisoned, expected, atol=0, rtol=0)
        assert used == count_params(arch, in_channels=2, num_classes=4) == taken.numel()


def test_9_every_subnet_parameter_takes_part_in_the_forward(small_space):
    """A NaN in any parameter tensor of a materialized subnet reaches the output: nothing counted is
    dead weight."""
    net = Supernet(small_space, in_channels=1, num_classes=3).eval()
    sub = materialize(net, small_space.sample(random.Random(5)))
    x = torch.randn(1, 1, 40, 40)
    with torch.no_grad():
        for name, p in sub.named_parameters():
            saved = p.detach().clone()
            p.fill_(float("nan"))
            assert torch.isnan(sub(x)).any(), name
            p.copy_(saved)


def test_9_parameter_count_includes_every_module_kind(paper_space):
    arch = paper_space.largest()
    stage = StageArch(arch.stages[0].width, (BlockArch("transformer", 9.0, None, 2),) * 4)
    no_mixer = Arch((stage, *arch.stages[1:]), arch.decoder)
    # Swapping the stage-1 operators for parameter-free attention drops exactly their weights.
    from autonad_core.models.complexity import block_params

    diff = count_params(arch) - count_params(no_mixer)
    assert diff == 4 * (block_params(arch.stages[0].blocks[0], 64) - block_params(stage.blocks[0], 64)) > 0
