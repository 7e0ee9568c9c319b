"""AdamW with the unused-slice guard leaves the slices a sampled subnet did not use exactly where they
were (values and moments); plain AdamW moves them through weight decay and stale momentum."""

from __future__ import annotations

from pathlib import Path

import torch

from autonad_core import SearchSpace, Supernet
from autonad_core.training.unused_slices import UnusedSliceGuard


def _train(space: SearchSpace, hold: bool) -> tuple[dict, dict, dict]:
    """Two steps on the largest subnet (moments everywhere), then three on the smallest one.
    Returns the parameters before the small steps, after them, and which entries got a gradient."""
    torch.manual_seed(0)
    net = Supernet(space, in_channels=1, num_classes=3)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=0.05)
    guard = UnusedSliceGuard(optimizer, enabled=hold)
    x, y = torch.randn(2, 1, 32, 32), torch.randint(0, 3, (2, 32, 32))

    def step(arch) -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x, arch), y).backward()
        for name, p in net.named_parameters():
            if p.grad is not None:
                touched[name] |= p.grad != 0
        guard.step()

    touched = {name: torch.zeros_like(p, dtype=torch.bool) for name, p in net.named_parameters()}
    for _ in range(2):
        step(space.largest())
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    touched = {name: torch.zeros_like(p, dtype=torch.bool) for name, p in net.named_parameters()}
    for _ in range(3):
        step(space.smallest())
    after = {name: p.detach().clone() for name, p in net.named_parameters()}
    return before, after, touched


def test_unused_slices_stay_put_with_the_guard_and_drift_without(tiny_space_yaml: Path) -> None:
    space = SearchSpace.from_yaml(tiny_space_yaml)
    before, after, touched = _train(space, hold=True)
    held = sum(int((~t).sum()) for t in touched.values())
    sliced = [n for n, t in touched.items() if bool(t.any()) and not bool(t.all())]
    assert held > 10_000 and len(sliced) > 10  # the smallest subnet leaves much of the supernet unused
    for name, used in touched.items():
        assert torch.equal(after[name][~used], before[name][~used]), name  # bit for bit
    assert any(not torch.equal(after[n][touched[n]], before[n][touched[n]]) for n in sliced)  # used: trained

    before, after, touched = _train(space, hold=False)
    drift = max(float((after[n] - before[n])[~touched[n]].abs().max()) for n in sliced)
    assert drift > 1e-4  # plain AdamW moves the slices nobody used (decay + momentum)
