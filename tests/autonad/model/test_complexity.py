"""count_params / count_flops computed from the arch alone, checked against real modules."""

from __future__ import annotations

import random

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from autonad_core import Subnet, count_flops, count_params
from autonad_core.models.complexity import level_sizes


@pytest.mark.parametrize(("in_channels", "num_classes"), [(1, 6), (3, 2), (8, 4)])
def test_param_count_equals_module_parameters(paper_space, in_channels, num_classes):
    rng = random.Random(in_channels)
    archs = [paper_space.largest(), paper_space.smallest()] + [paper_space.sample(rng) for _ in range(15)]
    for arch in archs:
        model = Subnet(arch, in_channels, num_classes)
        assert count_params(arch, in_channels, num_classes) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("size", [(64, 64), (75, 53), (200, 200)])
def test_flop_count_equals_torch_flop_counter(paper_space, size):
    """FlopCounterMode counts 2 FLOPs per multiply-accumulate of every conv / matmul it sees."""
    rng = random.Random(size[0])
    for arch in [paper_space.sample(rng) for _ in range(3)]:
        model = Subnet(arch, 1, 6).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.randn(2, 1, *size))
        assert counter.get_total_flops() == 2 * 2 * count_flops(arch, *size, in_channels=1, num_classes=6)


def test_level_sizes_match_the_backbone(paper_space):
    model = Subnet(paper_space.smallest(), 1, 2).eval()
    for size in [(320, 320), (97, 131), (200, 200)]:
        with torch.no_grad():
            feats = model.forward_features(torch.randn(1, 1, *size))
        assert [tuple(f.shape[-2:]) for f in feats] == level_sizes(*size)
    assert level_sizes(320, 320) == [(80, 80), (40, 40), (20, 20), (10, 10)]


def test_paper_space_parameter_range(paper_space):
    """The paper's searched models (4.6-6.3 M) lie inside the space's range."""
    small = count_params(paper_space.smallest(), 1, 6)
    large = count_params(paper_space.largest(), 1, 6)
    assert small < 4.6e6 and large > 6.3e6
    rng = random.Random(0)
    typical = sorted(count_params(paper_space.sample(rng), 1, 6) for _ in range(200))
    assert typical[0] < 4.6e6 < 6.3e6 < typical[-1]


def test_flops_grow_with_input_area(paper_space):
    arch = paper_space.sample(random.Random(1))
    small, large = count_flops(arch, 160, 160), count_flops(arch, 320, 320)
    assert 3.5 * small < large < 4.5 * small
