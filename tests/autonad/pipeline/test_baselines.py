"""The benchmark's plain-torch baselines give per-pixel logits at the input size for any H, W and learn."""

from __future__ import annotations

import pytest
import torch

from autonad_core.baselines import DeepLabV3Plus, UNet


@pytest.mark.parametrize("name", ["unet", "deeplab"])
def test_baseline_shapes_and_learning(name: str) -> None:
    torch.manual_seed(0)
    model = UNet(1, 6, base=8) if name == "unet" else DeepLabV3Plus(1, 6, width=16)
    for h, w in ((64, 64), (50, 77)):
        assert model(torch.randn(2, 1, h, w)).shape == (2, 6, h, w)
    x = torch.randn(2, 1, 32, 32)
    y = (x[:, 0] > 0).long()  # a pixel-wise rule a network can fit
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert 0.1e6 < sum(p.numel() for p in model.parameters()) < 2e6
