"""The latency-aware prior: per-(block, operator) timing through forward hooks on the real supernet,
and the latency -> probability conversion (faster operators more likely, documented formula)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from autonad_core import OPERATORS, SearchSpace, Supernet
from autonad_core.training.latency_prior import (
    BlockTimer,
    LatencyPrior,
    latency_to_probabilities,
    load_prior_probabilities,
    plot_prior,
)


def test_probabilities_follow_the_documented_formula() -> None:
    mean = {(0, 0): {"mlp": 1.0, "transformer": 3.0, "conv": 2.0}}
    probs = latency_to_probabilities(mean, OPERATORS, temperature=1.0, uniform_mix=0.1)[(0, 0)]
    rel = {"mlp": 0.5, "transformer": 1.5, "conv": 1.0}  # latency / mean latency (2 ms)
    norm = sum(math.exp(-r) for r in rel.values())
    for op, r in rel.items():
        assert probs[op] == pytest.approx(0.9 * math.exp(-r) / norm + 0.1 / 3)
    assert probs["mlp"] > probs["conv"] > probs["transformer"]  # faster -> more likely
    assert sum(probs.values()) == pytest.approx(1.0)
    # sharper with a lower temperature, never zero thanks to the uniform share
    sharp = latency_to_probabilities(mean, OPERATORS, temperature=0.1, uniform_mix=0.1)[(0, 0)]
    assert sharp["mlp"] > probs["mlp"] and sharp["transformer"] >= 0.1 / 3 - 1e-12
    # scale-free: a 10x slower device gives the same preferences
    slow = {(0, 0): {k: 10 * v for k, v in mean[(0, 0)].items()}}
    assert latency_to_probabilities(slow, OPERATORS)[(0, 0)] == pytest.approx(
        latency_to_probabilities(mean, OPERATORS)[(0, 0)]
    )


def test_unmeasured_operator_gives_uniform_row() -> None:
    probs = latency_to_probabilities({(1, 2): {"mlp": 1.0, "transformer": None, "conv": 2.0}}, OPERATORS)
    assert probs[(1, 2)] == pytest.approx(dict.fromkeys(OPERATORS, 1 / 3))


def test_block_timer_times_every_active_block_and_removes_its_hooks(tiny_space_yaml: Path, tmp_path) -> None:
    torch.manual_seed(0)
    space = SearchSpace.from_yaml(tiny_space_yaml)
    net = Supernet(space, in_channels=1, num_classes=3)
    timer = BlockTimer(net, "cpu")
    prior = LatencyPrior(space.block_positions(), OPERATORS)
    rng = random.Random(0)
    seen_ops = set()
    for _ in range(12):
        arch = space.sample(rng)
        block_ms, total_ms = timer.measure(arch, (1, 1, 32, 32), warmup=1, repeats=2)
        assert set(block_ms) == set(arch.block_ops())  # exactly the active (stage, block, operator)s
        assert all(v > 0 for v in block_ms.values())
        assert total_ms >= sum(block_ms.values())  # blocks are parts of the whole forward
        prior.add(block_ms, total_ms)
        seen_ops |= {op for _, _, op in arch.block_ops()}
    for s, b in space.block_positions():
        module = net.block_module(s, b)
        assert not module._forward_hooks and not module._forward_pre_hooks
    assert seen_ops == set(OPERATORS)
    means = prior.mean_ms()
    assert all(v is None or v > 0 for row in means.values() for v in row.values())
    # state round trip (it lives in the training checkpoint)
    clone = LatencyPrior(space.block_positions(), OPERATORS)
    clone.load_state_dict(json.loads(json.dumps(prior.state_dict())))
    assert clone.mean_ms() == means
    data = prior.to_json(1.0, 0.1, "cpu")
    (tmp_path / "prior.json").write_text(json.dumps(data))
    loaded = load_prior_probabilities(tmp_path / "prior.json")
    assert set(loaded) == set(space.block_positions())
    assert all(sum(row.values()) == pytest.approx(1.0) for row in loaded.values())
    png = plot_prior(data, tmp_path / "prior.png")
    assert png.stat().st_size > 5000
