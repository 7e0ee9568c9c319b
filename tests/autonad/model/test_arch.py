"""Arch encoding: JSON round trip, hashing, summaries and parse errors that name the field."""

from __future__ import annotations

import json
import random

import pytest

from autonad_core import OPERATORS, Arch, ArchValidationError, BlockArch


def test_json_round_trip_and_hash_for_many_samples(paper_space):
    seen = set()
    for seed in range(200):
        arch = paper_space.sample(random.Random(seed))
        text = arch.to_json()
        back = Arch.from_json(text)
        assert back == arch
        assert hash(back) == hash(arch)
        assert back.to_json() == text
        seen.add(arch)
    assert len(seen) == 200  # the space is huge: 200 draws are distinct


def test_equal_archs_hash_equal_whatever_the_edge_order(paper_space):
    arch = paper_space.sample(random.Random(3))
    data = arch.to_dict()
    data["decoder"]["edges"].reverse()
    data["decoder"]["ppm_pool_sizes"].reverse()
    assert Arch.from_dict(data) == arch
    assert {arch, Arch.from_dict(data)} == {arch}


def test_arch_is_immutable(paper_space):
    arch = paper_space.sample(random.Random(0))
    with pytest.raises(AttributeError):
        arch.stages = ()  # type: ignore[misc]


def test_block_ops_lists_active_blocks_in_forward_order(paper_space):
    arch = paper_space.sample(random.Random(5))
    ops = arch.block_ops()
    assert len(ops) == sum(arch.depths)
    assert [(s, b) for s, b, _ in ops] == sorted((s, b) for s, b, _ in ops)
    for s, b, op in ops:
        assert op == arch.stages[s].blocks[b].op and op in OPERATORS


def test_summary_names_every_stage_and_edge(paper_space):
    arch = paper_space.largest()
    text = arch.summary()
    for s in range(4):
        assert f"stage {s + 1}" in text
    assert text.count("->") == len(arch.decoder.edges)
    assert "PPM pool sizes [3, 4, 5, 6]" in text


def test_hidden_dim_is_ratio_times_width():
    assert BlockArch("mlp", 7.5).hidden_dim(32) == 240
    assert BlockArch("mlp", 4.5).hidden_dim(224) == 1008


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        (lambda d: d.pop("stages"), "arch.stages: missing"),
        (lambda d: d["stages"].pop(), "expected 4 stages"),
        (lambda d: d["stages"][1].update(width="64"), "arch.stages[1].width"),
        (lambda d: d["stages"][2]["blocks"][0].update(op="lstm"), "arch.stages[2].blocks[0].op"),
        (lambda d: d["stages"][0]["blocks"][0].update(op="transformer", kernel_size=3), "kernel_size"),
        (lambda d: d["stages"][0]["blocks"][0].update(op="conv", num_heads=2, kernel_size=3), "num_heads"),
        (lambda d: d["stages"][0]["blocks"][0].update(op="conv", kernel_size=None), "kernel_size"),
        (lambda d: d["decoder"]["edges"].append([1, "x", "conv1x1"]), "arch.decoder.edges"),
        (lambda d: d["decoder"].pop("ppm_pool_sizes"), "arch.decoder.ppm_pool_sizes"),
        (lambda d: d.update(version=99), "arch.version"),
    ],
)
def test_malformed_dict_errors_name_the_field(paper_space, mutation, field):
    data = paper_space.sample(random.Random(1)).to_dict()
    for blk in data["stages"][0]["blocks"]:  # a known operator at stage 0 block 0
        blk.pop("kernel_size", None), blk.pop("num_heads", None)
        blk["op"] = "mlp"
    mutation(data)
    with pytest.raises(ArchValidationError, match=field.replace("[", r"\[").replace("]", r"\]")):
        Arch.from_dict(data)


def test_invalid_json_text_is_a_validation_error():
    with pytest.raises(ArchValidationError, match="not valid JSON"):
        Arch.from_json("{stages: ")
    with pytest.raises(ArchValidationError, match="expected an object"):
        Arch.from_json(json.dumps([1, 2]))
