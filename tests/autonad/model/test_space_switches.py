"""Search-space switches, each shared in the supernet, materialized exactly and counted exactly, with
the paper's form the default: `stem: conv` (two 3x3 stride-2 conv-norm-act layers instead of the 7x7
stride-4 patch embedding) and `conv_wp: dense` (the conv operator's W_P a full k x k convolution)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from autonad_core import Arch, ArchValidationError, SearchSpace, Subnet, Supernet, count_flops, count_params
from autonad_core.models.complexity import level_sizes
from autonad_core.search.operators import crossover, mutate


def _switched(space: SearchSpace, **switches) -> SearchSpace:
    """The `small_space` fixture's ranges with some switches set (validated like a YAML file)."""
    return SearchSpace.model_validate({**space.model_dump(), **switches})


@pytest.fixture(scope="module")
def conv_space(small_space) -> SearchSpace:
    return _switched(small_space, stem="conv")


def test_paper_space_keeps_the_patch_stem_and_its_json(paper_space) -> None:
    arch = paper_space.sample(random.Random(0))
    assert paper_space.stem == "patch" and arch.stem == "patch"
    assert "stem" not in arch.to_dict()  # arch.json of the paper's form is unchanged
    model = Subnet(arch, 1, 2)
    assert model.stages[0].patch_embed.proj.kernel_size == (7, 7)


def test_every_arch_of_a_conv_space_has_the_conv_stem(conv_space, paper_space) -> None:
    rng = random.Random(1)
    archs = [conv_space.sample(rng) for _ in range(5)]
    archs += [mutate(conv_space, archs[0], rng, 0.5), crossover(conv_space, archs[1], archs[2], rng)]
    archs += [conv_space.largest(), conv_space.smallest()]
    assert {a.stem for a in archs} == {"conv"}
    again = Arch.from_json(archs[0].to_json())
    assert again == archs[0] and again.to_dict()["stem"] == "conv"
    with pytest.raises(ArchValidationError, match="stem: 'conv' but this search space uses the 'patch' stem"):
        paper_space.validate(Arch(paper_space.smallest().stages, paper_space.smallest().decoder, "conv"))
    with pytest.raises(ArchValidationError, match=r"arch\.stem: unknown stem 'big'"):
        Arch.from_dict({**archs[0].to_dict(), "stem": "big"})


def test_conv_stem_supernet_equals_materialized_subnet(conv_space) -> None:
    from autonad_core import materialize

    torch.manual_seed(0)
    net = Supernet(conv_space, in_channels=3, num_classes=4).eval()
    x = torch.randn(2, 3, 45, 61)
    rng = random.Random(2)
    for arch in [conv_space.largest(), conv_space.smallest(), conv_space.sample(rng)]:
        sub = materialize(net, arch).eval()
        with torch.no_grad():
            assert torch.allclose(net(x, arch), sub(x), atol=1e-5)
            feats = sub.forward_features(x)
        assert [tuple(f.shape[-2:]) for f in feats] == level_sizes(45, 61)  # same grids as the patch stem
        stem = sub.stages[0].patch_embed
        assert stem.conv1.stride == (2, 2) and stem.proj.stride == (2, 2) and stem.conv1.kernel_size == (3, 3)


def test_conv_stem_params_and_flops_are_exact(conv_space, small_space) -> None:
    rng = random.Random(3)
    for arch in [conv_space.largest(), conv_space.sample(rng)]:
        model = Subnet(arch, 1, 6).eval()
        assert count_params(arch, 1, 6) == sum(p.numel() for p in model.parameters())
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.randn(1, 1, 64, 72))
        assert counter.get_total_flops() == 2 * count_flops(arch, 64, 72, in_channels=1, num_classes=6)
    patch = small_space.largest()
    conv = conv_space.largest()
    w = conv.stages[0].width
    assert count_params(conv, 1, 6) - count_params(patch, 1, 6) == (9 * w + w * w * 9) - 49 * w + 3 * w


@pytest.fixture(scope="module")
def dense_space(small_space) -> SearchSpace:
    return _switched(small_space, conv_wp="dense", operators=("conv", "mlp"))


def test_dense_wp_supernet_equals_materialized_subnet_and_counts(dense_space, paper_space) -> None:
    from autonad_core import materialize
    from autonad_core.ops import ElasticShiftSumConv

    assert paper_space.conv_wp == "grouped"
    torch.manual_seed(0)
    net = Supernet(dense_space, in_channels=1, num_classes=3).eval()
    shared = net.block_module(0, 0).conv_op["shared"]
    assert isinstance(shared, ElasticShiftSumConv) and shared.weight.shape == (64, 192, 7, 7)
    rng = random.Random(4)
    x = torch.randn(1, 1, 40, 48)
    archs = [dense_space.largest(), dense_space.sample(rng), dense_space.sample(rng)]
    assert any(op == "conv" for a in archs for _, _, op in a.block_ops())
    for arch in archs:
        assert arch.conv_wp == "dense" and Arch.from_json(arch.to_json()) == arch
        sub = materialize(net, arch).eval()
        with torch.no_grad():
            assert torch.allclose(net(x, arch), sub(x), atol=1e-5)
        assert count_params(arch, 1, 3) == sum(p.numel() for p in sub.parameters())
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            sub(x)
        assert counter.get_total_flops() == 2 * count_flops(arch, 40, 48, in_channels=1, num_classes=3)
        for s, st in enumerate(arch.stages):
            for b, blk in enumerate(st.blocks):
                if blk.op == "conv":  # a full conv: every output channel reads all 3C inputs
                    conv = sub.stages[s].blocks[b].mixer.conv
                    assert conv.groups == 1 and conv.in_channels == 3 * st.width
    with pytest.raises(
        ArchValidationError, match="conv_wp: 'dense' but this search space uses the 'grouped'"
    ):
        paper_space.validate(replace(paper_space.smallest(), conv_wp="dense"))
