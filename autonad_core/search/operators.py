"""Mutation and crossover of architectures (used by the evolution search, paper Algorithm 1).

Both operators work gene by gene and repair what a gene change invalidates (a new stage width changes
the valid head counts), so their result always lies in the space; both parents and the child are
validated.
"""

from __future__ import annotations

import random
from dataclasses import replace

from autonad_core.models.arch import NUM_LEVELS, Arch, BlockArch, DecoderArch, OpProbs, StageArch
from autonad_core.models.search_space import SearchSpace


def _refit_heads(
    space: SearchSpace, blk: BlockArch, old_width: int, width: int, rng: random.Random
) -> BlockArch:
    """Keep a transformer block's head dim when the stage width changes, else draw a valid head count."""
    if blk.op != "transformer" or blk.num_heads is None:
        return blk
    valid = space.heads_for(width)
    head_dim = old_width // blk.num_heads
    heads = width // head_dim if width % head_dim == 0 and width // head_dim in valid else None
    if heads is None:
        heads = blk.num_heads if blk.num_heads in valid else rng.choice(valid)
    return BlockArch(op=blk.op, ffn_ratio=blk.ffn_ratio, kernel_size=None, num_heads=heads)


def _mutate_block(
    space: SearchSpace,
    stage: int,
    index: int,
    blk: BlockArch,
    width: int,
    rng: random.Random,
    prob: float,
    op_probs: OpProbs | None,
) -> BlockArch:
    if rng.random() < prob:
        op = space.sample_op(rng, (stage, index), op_probs)
        if op != blk.op:
            return space.sample_block(rng, stage, width, op)
    ratio = rng.choice(space.stages[stage].ffn_ratios) if rng.random() < prob else blk.ffn_ratio
    kernel, heads = blk.kernel_size, blk.num_heads
    if blk.op == "conv" and rng.random() < prob:
        kernel = rng.choice(space.kernel_sizes)
    if blk.op == "transformer" and rng.random() < prob:
        heads = rng.choice(space.heads_for(width))
    return BlockArch(op=blk.op, ffn_ratio=ratio, kernel_size=kernel, num_heads=heads)


def _mutate_stage(
    space: SearchSpace, s: int, st: StageArch, rng: random.Random, prob: float, op_probs: OpProbs | None
) -> StageArch:
    stage_space = space.stages[s]
    width = rng.choice(stage_space.widths) if rng.random() < prob else st.width
    depth = rng.choice(stage_space.depths) if rng.random() < prob else st.depth
    blocks = []
    for b in range(depth):
        if b < st.depth:
            blk = _refit_heads(space, st.blocks[b], st.width, width, rng)
            blocks.append(_mutate_block(space, s, b, blk, width, rng, prob, op_probs))
        else:  # a deeper stage gets freshly drawn blocks
            blocks.append(space.sample_block(rng, s, width, space.sample_op(rng, (s, b), op_probs)))
    return StageArch(width=width, blocks=tuple(blocks))


def mutate(
    space: SearchSpace, arch: Arch, rng: random.Random, prob: float, op_probs: OpProbs | None = None
) -> Arch:
    """Each gene (depth, width, operator, ratio, kernel, heads, node in-edges, edge op, PPM) resampled
    with probability ``prob``."""
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"mutation prob must be in [0, 1], got {prob}")
    space.validate(arch)
    stages = tuple(_mutate_stage(space, s, st, rng, prob, op_probs) for s, st in enumerate(arch.stages))
    dec = arch.decoder
    edges = []
    for node in range(NUM_LEVELS, dec.num_nodes):
        if rng.random() < prob:
            edges += space.sample_node_edges(rng, node)
            continue
        for e in dec.incoming(node):
            op = rng.choice(space.decoder.edge_ops) if rng.random() < prob else e.op
            edges.append(type(e)(src=e.src, dst=e.dst, op=op))
    pools = space.sample_pool_sizes(rng) if rng.random() < prob else dec.ppm_pool_sizes
    child = replace(arch, stages=stages, decoder=_decoder_like(dec, edges, pools))
    return space.validate(child)


def crossover(space: SearchSpace, a: Arch, b: Arch, rng: random.Random) -> Arch:
    """Uniform crossover. Per stage: width and depth each from either parent; block j from either
    parent that has it. Per decoder node: its whole in-edge set from either parent (edge sets are only
    valid as a unit). PPM sizes from either parent."""
    space.validate(a)
    space.validate(b)
    stages = []
    for sa, sb in zip(a.stages, b.stages, strict=True):
        width = rng.choice((sa.width, sb.width))
        depth = rng.choice((sa.depth, sb.depth))
        blocks = []
        for j in range(depth):
            donors = [st for st in (sa, sb) if j < st.depth]
            donor = rng.choice(donors)
            blocks.append(_refit_heads(space, donor.blocks[j], donor.width, width, rng))
        stages.append(StageArch(width=width, blocks=tuple(blocks)))
    edges = []
    for node in range(NUM_LEVELS, a.decoder.num_nodes):
        edges += rng.choice((a.decoder, b.decoder)).incoming(node)
    pools = rng.choice((a.decoder.ppm_pool_sizes, b.decoder.ppm_pool_sizes))
    child = replace(a, stages=tuple(stages), decoder=_decoder_like(a.decoder, edges, pools))
    return space.validate(child)


def _decoder_like(dec: DecoderArch, edges: list, pools: tuple[int, ...]) -> DecoderArch:
    return DecoderArch(
        channels=dec.channels, node_levels=dec.node_levels, edges=tuple(edges), ppm_pool_sizes=pools
    )
