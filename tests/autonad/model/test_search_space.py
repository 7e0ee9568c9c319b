"""SearchSpace: paper defaults, YAML, sampling, bounds, validation, mutation and crossover."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies

from autonad_core import ArchValidationError, DecoderEdge, SearchSpace, count_params
from autonad_core.search.operators import crossover, mutate


def test_defaults_are_paper_table_one(paper_space):
    rows = [(s.depths, s.widths, s.ffn_ratios) for s in paper_space.stages]
    assert rows == [
        ((1, 2, 3, 4), (32, 64), (7.5, 8.0, 8.5, 9.0)),
        ((1, 2, 3, 4), (32, 64, 96, 128), (7.5, 8.0, 8.5, 9.0)),
        ((1, 2, 3, 4), (128, 160, 192, 224), (3.5, 4.0, 4.5, 5.0)),
        ((1, 2, 3, 4), (192, 224, 256, 288), (3.5, 4.0, 4.5, 5.0)),
    ]
    assert paper_space.heads_for(288) == (9,)  # heads = width / 32
    assert len(paper_space.block_positions()) == 16
    assert len(paper_space.decoder_edge_slots()) == 4 + 5 + 6 + 7


def test_paper_yaml_equals_defaults(repo_root):
    assert SearchSpace.from_yaml(repo_root / "autonad_core/configs/search_space_paper.yaml") == SearchSpace()


def test_yaml_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "space.yaml"
    bad.write_text("stages:\n  - {depth: [1, 4, 1], width: [32, 64, 20], ffn_ratio: [1, 2, 1]}\n")
    with pytest.raises(ValueError, match=r"space\.yaml.*stages"):
        SearchSpace.from_yaml(bad)
    bad.write_text("operators: [mlp, lstm]\n")
    with pytest.raises(ValueError, match=r"space\.yaml.*operators.*lstm"):
        SearchSpace.from_yaml(bad)
    bad.write_text("kernel_sizes: [3, 4]\n")
    with pytest.raises(ValueError, match="kernel_sizes"):
        SearchSpace.from_yaml(bad)
    bad.write_text("decoder: {node_levels: [5]}\n")
    with pytest.raises(ValueError, match="node_levels"):
        SearchSpace.from_yaml(bad)
    bad.write_text("surprise: 1\n")
    with pytest.raises(ValueError, match="surprise"):
        SearchSpace.from_yaml(bad)
    with pytest.raises(ValueError, match="cannot read"):
        SearchSpace.from_yaml(tmp_path / "absent.yaml")


def test_width_without_a_valid_head_count_is_rejected():
    with pytest.raises(ValueError, match="head dim"):
        SearchSpace(head_dims=(64,))  # stage 1 width 32 cannot split into 64-dim heads
    SearchSpace(head_dims=(64,), operators=("mlp", "conv"))  # fine without the transformer


def test_samples_are_valid_and_cover_every_choice(paper_space):
    rng = random.Random(0)
    archs = [paper_space.sample(rng) for _ in range(300)]
    for arch in archs:
        assert paper_space.validate(arch) is arch
    blocks = [b for a in archs for st in a.stages for b in st.blocks]
    assert set(Counter(b.op for b in blocks)) == {"mlp", "transformer", "conv"}
    assert {b.kernel_size for b in blocks if b.op == "conv"} == {3, 5, 7}
    assert {a.depths[0] for a in archs} == {1, 2, 3, 4}
    assert {e.op for a in archs for e in a.decoder.edges} == set(paper_space.decoder.edge_ops)
    assert {p for a in archs for p in a.decoder.ppm_pool_sizes} == {1, 2, 3, 4, 5, 6}
    assert {len(a.decoder.incoming(4)) for a in archs} == {1, 2}


def test_op_probs_bias_sampling(paper_space):
    rng = random.Random(1)
    probs = {pos: {"conv": 1.0} for pos in paper_space.block_positions()}
    arch = paper_space.sample(rng, probs)
    assert {op for _, _, op in arch.block_ops()} == {"conv"}
    probs = {(0, 0): {"mlp": 0.9, "transformer": 0.05, "conv": 0.05}}
    first = Counter(paper_space.sample(rng, probs).stages[0].blocks[0].op for _ in range(400))
    assert first["mlp"] > 300


def test_largest_and_smallest_bound_the_parameter_count(paper_space):
    big, small = paper_space.largest(), paper_space.smallest()
    assert big.depths == (4, 4, 4, 4) and big.widths == (64, 128, 224, 288)
    assert small.depths == (1, 1, 1, 1) and small.widths == (32, 32, 128, 192)
    hi, lo = count_params(big, 1, 6), count_params(small, 1, 6)
    rng = random.Random(2)
    for _ in range(200):
        assert lo <= count_params(paper_space.sample(rng), 1, 6) <= hi


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda a: replace(a, stages=(replace(a.stages[0], width=48), *a.stages[1:])), r"stages\[0\]\.width"),
        (
            lambda a: replace(a, stages=(replace(a.stages[0], blocks=()), *a.stages[1:])),
            r"stages\[0\]\.depth",
        ),
        (lambda a: replace(a, stages=a.stages[:3]), "stages"),
        (lambda a: _block(a, op="conv", kernel_size=9, num_heads=None), r"blocks\[0\]\.kernel_size: 9"),
        (lambda a: _block(a, op="transformer", kernel_size=None, num_heads=3), r"blocks\[0\]\.num_heads: 3"),
        (lambda a: _block(a, op="mlp", kernel_size=None, num_heads=None, ffn_ratio=6.0), r"ffn_ratio: 6\.0"),
        (lambda a: _block(a, op="mlp", kernel_size=3, num_heads=None), "kernel_size: set on a mlp"),
        (lambda a: _decoder(a, edges=(*a.decoder.edges, DecoderEdge(5, 5, "conv1x1"))), r"src"),
        (lambda a: _decoder(a, edges=(*a.decoder.edges, DecoderEdge(0, 4, "conv7x7"))), r"\.op: 'conv7x7'"),
        (lambda a: _decoder(a, edges=tuple(e for e in a.decoder.edges if e.dst != 6)), "node 6: in-degree 0"),
        (
            lambda a: _decoder(
                a, edges=(*a.decoder.edges, *(DecoderEdge(s, 7, "conv1x1") for s in range(3)))
            ),
            "in-degree|duplicate",
        ),
        (lambda a: _decoder(a, ppm_pool_sizes=(1, 2, 3, 4, 5)), "ppm_pool_sizes"),
        (lambda a: _decoder(a, ppm_pool_sizes=(7,)), "ppm_pool_sizes: 7"),
        (lambda a: _decoder(a, channels=128), "decoder.channels"),
    ],
)
def test_validation_errors_name_the_field(paper_space, change, field):
    arch = paper_space.sample(random.Random(4))
    with pytest.raises(ArchValidationError, match=field):
        paper_space.validate(change(arch))
    assert not paper_space.contains(change(arch))


def _block(arch, **fields):
    st = arch.stages[1]
    blocks = (replace(st.blocks[0], **fields), *st.blocks[1:])
    return replace(arch, stages=(arch.stages[0], replace(st, blocks=blocks), *arch.stages[2:]))


def _decoder(arch, **fields):
    return replace(arch, decoder=replace(arch.decoder, **fields))


@settings(max_examples=60, deadline=None)
@given(seed=strategies.integers(0, 2**32 - 1), prob=strategies.floats(0.0, 1.0))
def test_mutation_and_crossover_are_always_valid(paper_space, seed, prob):
    rng = random.Random(seed)
    a = paper_space.sample(rng)
    probs = {pos: {"conv": rng.random(), "mlp": rng.random()} for pos in paper_space.block_positions()}
    child = mutate(paper_space, a, rng, prob, probs)
    assert paper_space.contains(child)
    mixed = crossover(paper_space, a, child, rng)
    assert paper_space.contains(mixed)


def test_mutation_prob_zero_keeps_and_one_changes(paper_space):
    rng = random.Random(7)
    arch = paper_space.sample(rng)
    assert mutate(paper_space, arch, rng, 0.0) == arch
    assert sum(mutate(paper_space, arch, rng, 1.0) != arch for _ in range(20)) >= 19
    with pytest.raises(ValueError, match="prob"):
        mutate(paper_space, arch, rng, 1.5)


def test_width_mutation_keeps_head_dim():
    space = SearchSpace(head_dims=(16, 32))
    rng = random.Random(0)
    for _ in range(200):
        arch = space.sample(rng)
        child = mutate(space, arch, rng, 0.5)
        for st in child.stages:
            for blk in st.blocks:
                if blk.op == "transformer":
                    assert st.width % blk.num_heads == 0 and st.width // blk.num_heads in (16, 32)


def test_crossover_genes_come_from_the_parents(paper_space):
    rng = random.Random(11)
    for _ in range(100):
        a, b = paper_space.sample(rng), paper_space.sample(rng)
        child = crossover(paper_space, a, b, rng)
        for s, st in enumerate(child.stages):
            assert st.width in (a.stages[s].width, b.stages[s].width)
            assert st.depth in (a.stages[s].depth, b.stages[s].depth)
            for j, blk in enumerate(st.blocks):
                donors = [p.stages[s].blocks[j] for p in (a, b) if j < p.stages[s].depth]
                assert any(
                    (blk.op, blk.ffn_ratio, blk.kernel_size) == (d.op, d.ffn_ratio, d.kernel_size)
                    for d in donors
                )
        for node in range(4, child.decoder.num_nodes):
            assert child.decoder.incoming(node) in (a.decoder.incoming(node), b.decoder.incoming(node))
        assert child.decoder.ppm_pool_sizes in (a.decoder.ppm_pool_sizes, b.decoder.ppm_pool_sizes)


def test_crossover_rejects_parents_outside_the_space(paper_space, small_space):
    rng = random.Random(0)
    with pytest.raises(ArchValidationError):
        crossover(paper_space, paper_space.sample(rng), small_space.sample(rng), rng)


def test_describe_space_mentions_ranges_and_params():
    from autonad_core import describe_space

    text = describe_space()
    assert "stage 4: depth [1, 2, 3, 4], width [192, 224, 256, 288]" in text
    assert "22 candidate edges" in text and "largest" in text


def test_sampling_and_evolution_are_reproducible_from_the_seed(paper_space):
    def run(seed):
        rng = random.Random(seed)
        a, b = paper_space.sample(rng), paper_space.sample(rng)
        return a, mutate(paper_space, a, rng, 0.3), crossover(paper_space, a, b, rng)

    assert run(5) == run(5)
    assert run(5) != run(6)
