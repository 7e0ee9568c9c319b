"""The latency table (parts measured once, an arch's latency their sum, refused for another space or
device) and the prior built from it (faster operators more likely, documented formula)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from autonad_core import OPERATORS, SearchSpace
from autonad_core.training.latency_prior import (
    latency_to_probabilities,
    load_prior_probabilities,
    plot_prior,
    prior_json,
)
from autonad_core.training.latency_table import (
    TABLE_FILE,
    LatencyTable,
    LatencyTableError,
    arch_parts,
    ensure_table,
    expected_meta,
    measure_table,
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


@pytest.fixture(scope="module")
def tiny_table(tiny_space_yaml: Path):
    torch.set_num_threads(1)
    space = SearchSpace.from_yaml(tiny_space_yaml)
    return space, measure_table(space, 1, 3, (32, 32), "cpu", warmup=1, repeats=3)


def test_table_covers_every_part_of_every_arch_and_sums_them(tiny_table) -> None:
    space, table = tiny_table
    assert all(ms > 0 for ms in table.entries.values())
    rng = random.Random(0)
    for _ in range(30):
        arch = space.sample(rng)
        parts = arch_parts(arch, 1)
        assert table.parts_ms(arch) == pytest.approx(sum(table.entries[k] for k in parts))
        scale = table.meta["end_to_end_scale"]
        assert table.latency_ms(arch) == pytest.approx(scale * table.parts_ms(arch))
        assert table.latency_ms(arch) == table.latency_ms(arch)  # a sum of stored medians: no noise
    # a deeper arch costs more: every extra block adds its entry
    small, large = space.smallest(), space.largest()
    assert table.latency_ms(large) > table.latency_ms(small)
    n_blocks = sum(1 for k in arch_parts(large, 1) if k.startswith("block|"))
    assert n_blocks == sum(st.depth for st in large.stages)


def test_table_sum_tracks_end_to_end_latency(tiny_table) -> None:
    """The parts add up to roughly the whole forward (same modules, same shapes; a loose bound because
    the host is shared and tiny kernels carry Python overhead)."""
    from autonad_core.models.subnet import Subnet
    from autonad_core.training.timing import time_forward

    space, table = tiny_table
    arch = space.largest()
    model = Subnet(arch, 1, 3).eval()
    # the fastest of 15 runs: a load spike on the shared host cannot inflate it
    measured = min(time_forward(model, torch.zeros(1, 1, 32, 32), 3, 15))
    assert 0.2 * measured < table.latency_ms(arch) < 5 * measured


def test_table_scales_its_sums_by_the_measured_end_to_end_ratio(tiny_table, tmp_path: Path) -> None:
    """The scale is the median of the whole-forward / parts-sum ratios of a fixed draw of subnets, kept
    in the table; a table written before the scale existed reads as scale 1."""
    import statistics

    from autonad_core.training.latency_table import CALIBRATION_ARCHS

    space, table = tiny_table
    ratios = table.meta["end_to_end_ratios"]
    assert len(ratios) == CALIBRATION_ARCHS and all(r > 0 for r in ratios)
    assert table.meta["end_to_end_scale"] == statistics.median(ratios)
    arch = space.largest()
    loaded = LatencyTable.load(table.save(tmp_path / TABLE_FILE))
    assert loaded.latency_ms(arch) == table.latency_ms(arch)
    data = json.loads((tmp_path / TABLE_FILE).read_text())
    del data["end_to_end_scale"], data["end_to_end_ratios"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert LatencyTable.load(tmp_path / "old.json").latency_ms(arch) == table.parts_ms(arch)


def test_table_round_trip_and_refusal_of_another_space_or_device(tiny_table, tmp_path: Path) -> None:
    space, table = tiny_table
    path = table.save(tmp_path / TABLE_FILE)
    loaded = LatencyTable.load(path)
    assert loaded.entries == table.entries and loaded.sha256() == table.sha256()
    loaded.check_matches(expected_meta(space, 1, 3, (32, 32), "cpu"), path)  # same conditions: accepted
    other_space = space.model_copy(update={"kernel_sizes": (3,)})
    with pytest.raises(LatencyTableError, match=r"another search space \(differs in: kernel_sizes\)"):
        loaded.check_matches(expected_meta(other_space, 1, 3, (32, 32), "cpu"), path)
    with pytest.raises(
        LatencyTableError, match="another input size: table \\[32, 32\\], this run \\[64, 64\\]"
    ):
        loaded.check_matches(expected_meta(space, 1, 3, (64, 64), "cpu"), path)
    with pytest.raises(LatencyTableError, match="another number of classes"):
        loaded.check_matches(expected_meta(space, 1, 4, (32, 32), "cpu"), path)
    data = json.loads(path.read_text())
    data["device"] = "cuda: NVIDIA H200"
    path.write_text(json.dumps(data))
    with pytest.raises(
        LatencyTableError, match=f"{TABLE_FILE}: latency table was measured for another device"
    ):
        ensure_table(tmp_path / "run", space, 1, 3, (32, 32), "cpu", 1, 1, given=path)
    assert not (tmp_path / "run" / TABLE_FILE).exists()
    path.write_text("{")
    with pytest.raises(LatencyTableError, match="not valid JSON"):
        LatencyTable.load(path)


def test_given_table_is_reused_not_remeasured(tiny_table, tmp_path: Path) -> None:
    space, table = tiny_table
    given = table.save(tmp_path / "given.json")
    (tmp_path / "run").mkdir()
    got = ensure_table(tmp_path / "run", space, 1, 3, (32, 32), "cpu", 1, 1, given=given)
    assert got.entries == table.entries
    assert (tmp_path / "run" / TABLE_FILE).read_bytes() == given.read_bytes()  # copied beside the design


def test_prior_from_table_prefers_fast_operators(tiny_table, tmp_path: Path) -> None:
    space, table = tiny_table
    data = prior_json(table, space, temperature=1.0, uniform_mix=0.1)
    means = table.operator_means(space)
    for row in data["positions"]:
        ms, prob = row["mean_ms"], row["prob"]
        assert ms == means[(row["stage"], row["block"])]
        fastest, slowest = min(ms, key=ms.get), max(ms, key=ms.get)
        assert prob[fastest] > prob[slowest]
        assert sum(prob.values()) == pytest.approx(1.0)
    (tmp_path / "prior.json").write_text(json.dumps(data))
    loaded = load_prior_probabilities(tmp_path / "prior.json")
    assert set(loaded) == set(space.block_positions())
    png = plot_prior(data, tmp_path / "prior.png")
    assert png.stat().st_size > 5000
