"""Supernet: materialized equality, any input size, weight-sharing modes, slicing, hooks, errors."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from autonad_core import ArchValidationError, BlockArch, StageArch, Supernet, materialize


def test_materialized_subnet_equals_supernet_for_50_random_archs(mt_supernet, paper_space):
    rng = random.Random(2024)
    archs = [paper_space.largest(), paper_space.smallest()] + [paper_space.sample(rng) for _ in range(48)]
    x = torch.randn(1, 1, 64, 64)
    worst = 0.0
    with torch.no_grad():
        for arch in archs:
            expected = mt_supernet(x, arch)
            model = materialize(mt_supernet, arch)
            assert not model.training
            got = model(x)
            assert got.shape == (1, 6, 64, 64)
            worst = max(worst, (got - expected).abs().max().item())
    assert worst <= 1e-5


def test_materialized_subnet_has_no_supernet_modules(mt_supernet, paper_space):
    model = materialize(mt_supernet, paper_space.sample(random.Random(0)))
    names = {type(m).__name__ for m in model.modules()}
    assert not any(n.startswith(("Elastic", "Searchable", "Supernet")) for n in names)
    assert (model.arch, model.in_channels, model.num_classes) == (model.arch, 1, 6)


@pytest.mark.parametrize("size", [(200, 200), (320, 320), (256, 192), (97, 131), (33, 47)])
def test_sampled_archs_run_for_any_input_size(mt_supernet, paper_space, size):
    rng = random.Random(sum(size))
    archs = [paper_space.sample(rng) for _ in range(2)]
    if size == (320, 320):
        archs += [paper_space.largest(), paper_space.smallest()]
    x = torch.randn(1, 1, *size)
    with torch.no_grad():
        for arch in archs:
            y = mt_supernet(x, arch)
            assert y.shape == (1, 6, *size)
            assert torch.isfinite(y).all()


@pytest.mark.parametrize("in_channels", [1, 3, 5])
def test_configurable_input_channels(small_space, in_channels):
    net = Supernet(small_space, in_channels=in_channels, num_classes=3).eval()
    arch = small_space.sample(random.Random(in_channels))
    x = torch.randn(2, in_channels, 48, 40)
    with torch.no_grad():
        torch.testing.assert_close(materialize(net, arch)(x), net(x, arch), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=rf"\(B, {in_channels}, H, W\)"):
        net(torch.randn(1, in_channels + 1, 32, 32), arch)


def _single_op_arch(space, arch, op: str, kernel: int = 3):
    """``arch`` with every block running ``op``."""
    stages = []
    for st in arch.stages:
        blk = BlockArch(
            op=op,
            ffn_ratio=st.blocks[0].ffn_ratio,
            kernel_size=kernel if op == "conv" else None,
            num_heads=space.heads_for(st.width)[0] if op == "transformer" else None,
        )
        stages.append(StageArch(st.width, (blk,) * st.depth))
    return type(arch)(tuple(stages), arch.decoder)


@pytest.mark.parametrize(
    ("sharing", "others_change"), [("cross", True), ("entangled", False), ("classical", False)]
)
@pytest.mark.parametrize("trained_op", ["transformer", "conv"])
def test_gradient_step_on_one_operator_and_the_step_one_weights_of_the_others(
    small_space, sharing, others_change, trained_op
):
    """Cross sharing: training the transformer subnet updates the Step-I weights the conv and MLP
    operators use. Entangled / classical: the other operators' Step-I weights stay untouched."""
    torch.manual_seed(0)
    net = Supernet(small_space, in_channels=1, num_classes=3, sharing=sharing)
    base = small_space.sample(random.Random(0))
    archs = {op: _single_op_arch(small_space, base, op, kernel=5) for op in ("mlp", "transformer", "conv")}
    first = {op: a.stages[0].blocks[0] for op, a in archs.items()}
    block = net.block_module(0, 0)

    def step_weights(op):
        step = block.step_one_for(first[op])
        return [p.detach().clone() for p in step.parameters()]

    before = {op: step_weights(op) for op in archs}
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    x, target = torch.randn(2, 1, 32, 32), torch.randint(0, 3, (2, 32, 32))
    F.cross_entropy(net(x, archs[trained_op]), target).backward()
    opt.step()
    after = {op: step_weights(op) for op in archs}

    def changed(op):
        return any(not torch.equal(a, b) for a, b in zip(before[op], after[op], strict=True))

    assert changed(trained_op)
    for op in archs:
        if op != trained_op:
            assert changed(op) is others_change, (sharing, op)
    if sharing == "classical":  # each kernel size is its own choice with its own Step I
        conv3 = BlockArch("conv", first["conv"].ffn_ratio, 3)
        assert block.step_one_for(conv3) is not block.step_one_for(first["conv"])


def test_sharing_modes_differ_in_stored_weights(small_space):
    sizes = {
        m: sum(p.numel() for p in Supernet(small_space, sharing=m).parameters())
        for m in ("cross", "entangled", "classical")
    }
    assert sizes["cross"] < sizes["entangled"] < sizes["classical"]
    with pytest.raises(ValueError, match="sharing"):
        Supernet(small_space, sharing="partial")


def test_smaller_kernels_and_widths_are_slices_of_the_largest_weights(mt_supernet, paper_space):
    arch = paper_space.sample(random.Random(9))
    blk = BlockArch("conv", 8.0, kernel_size=3)
    arch = type(arch)((StageArch(32, (blk,)), *arch.stages[1:]), arch.decoder)
    model = materialize(mt_supernet, arch)
    sup_block, sub_block = mt_supernet.block_module(0, 0), model.stages[0].blocks[0]
    # Conv operator: centred 3x3 window of the stored 7x7 kernel, leading 32 of 64 channels.
    stored = sup_block.conv_op_for(blk).weight
    assert stored.shape == (64, 3, 7, 7)
    assert torch.equal(sub_block.mixer.conv.weight, stored[:32, :, 2:5, 2:5])
    # Step I and the FFN: leading slices.
    step = sup_block.step_one_for(blk)
    assert torch.equal(sub_block.step.q.weight, step.q.weight[:32, :32])
    assert torch.equal(sub_block.ffn.fc1.weight, sup_block.ffn.fc1.weight[:256, :32])
    assert torch.equal(sub_block.ffn.dwconv.weight, sup_block.ffn.dwconv.weight[:256])
    # Patch embedding: 7x7 stride 4 from the grey channel to 32 of 64 channels.
    assert torch.equal(model.stages[0].patch_embed.proj.weight, mt_supernet.patch_embeds[0].proj.weight[:32])
    # Decoder edges: centre windows of the slot's 5x5 kernel.
    for e in arch.decoder.edges:
        slot = mt_supernet.decoder.edges[f"{e.src}_{e.dst}"].kernels["shared"]
        k = model.decoder.edges[f"{e.src}_{e.dst}"].conv.weight.shape[-1]
        p = (5 - k) // 2
        assert torch.equal(
            model.decoder.edges[f"{e.src}_{e.dst}"].conv.weight, slot[:, :, p : p + k, p : p + k]
        )


def test_block_module_hooks_fire_once_per_active_block(mt_supernet, paper_space):
    arch = paper_space.sample(random.Random(4))
    calls = []
    handles = [
        mt_supernet.block_module(s, b).register_forward_pre_hook(
            lambda m, args, s=s, b=b: calls.append((s, b, args[2].op))
        )
        for s, b in paper_space.block_positions()
    ]
    try:
        with torch.no_grad():
            mt_supernet(torch.randn(1, 1, 64, 64), arch)
    finally:
        for h in handles:
            h.remove()
    assert tuple(calls) == arch.block_ops()


def test_arch_outside_the_space_is_rejected(mt_supernet, small_space):
    foreign = small_space.sample(random.Random(0))
    with pytest.raises(ArchValidationError):
        mt_supernet(torch.randn(1, 1, 64, 64), foreign)


def test_drop_path_randomness_comes_from_torch_seed_only(small_space):
    net = Supernet(small_space, in_channels=1, num_classes=2, drop_path_rate=0.5).train()
    arch = small_space.largest()
    x = torch.randn(4, 1, 32, 32)
    torch.manual_seed(3)
    a = net(x, arch)
    torch.manual_seed(3)
    b = net(x, arch)
    torch.manual_seed(4)
    c = net(x, arch)
    assert torch.equal(a, b) and not torch.equal(a, c)
    net.eval()
    assert torch.equal(net(x, arch), net(x, arch))
