"""The AutoNAD search space: ranges (paper Table I by default, or YAML), sampling, bounds, validation.

A :class:`SearchSpace` is a frozen pydantic model, so a YAML file is checked field by field and an
error names the file and the field. It answers which architectures exist (``validate``), draws them
(``sample``, optionally biased per block position by the latency prior), and gives the bounds
(``largest``/``smallest``). Evolution operators (``mutate``/``crossover``) live in
:mod:`autonad_core.search.operators`, which depends on this module and not the other way round.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Literal

import yaml
from pydantic import ValidationError, field_validator, model_validator

from autonad_core.models.arch import (
    NUM_LEVELS,
    NUM_STAGES,
    OPERATORS,
    Arch,
    ArchValidationError,
    BlockArch,
    DecoderArch,
    DecoderEdge,
    OpProbs,
    StageArch,
)
from autonad_core.models.space_config import PAPER_STAGES, DecoderSpace, FrozenModel, PositiveInt, StageSpace


class SearchSpace(FrozenModel):
    """All architectures AutoNAD may pick; ``SearchSpace()`` is the paper's Table I space."""

    stages: tuple[StageSpace, StageSpace, StageSpace, StageSpace] = PAPER_STAGES
    operators: tuple[str, ...] = OPERATORS
    kernel_sizes: tuple[PositiveInt, ...] = (3, 5, 7)
    head_dims: tuple[PositiveInt, ...] = (32,)
    decoder: DecoderSpace = DecoderSpace()
    stem: Literal["patch", "conv"] = "patch"
    """Stage-1 stem of every arch (a switch, not searched): the paper's 7x7 stride-4 patch embedding,
    or two 3x3 stride-2 conv-norm-act layers."""
    conv_wp: Literal["grouped", "dense"] = "grouped"
    """W_P of the conv operator in every arch (a switch): the paper's per-channel projection, or a full
    k x k convolution over all Step-I channels."""

    @field_validator("operators")
    @classmethod
    def _check_operators(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [op for op in v if op not in OPERATORS]
        if bad or not v or len(set(v)) != len(v):
            raise ValueError(f"need distinct operators from {OPERATORS}, got {list(v)}")
        return v

    @field_validator("kernel_sizes")
    @classmethod
    def _check_kernels(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(k % 2 == 0 for k in v) or len(set(v)) != len(v):
            raise ValueError(f"need distinct odd kernel sizes, got {list(v)}")
        return tuple(sorted(v))

    @model_validator(mode="after")
    def _check_heads(self) -> SearchSpace:
        if "transformer" in self.operators:
            for i, st in enumerate(self.stages):
                for w in st.widths:
                    if not self.heads_for(w):
                        raise ValueError(
                            f"stages[{i}].width {w} is divisible by no head dim {self.head_dims}"
                        )
        return self

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | Path) -> SearchSpace:
        """Load a space from YAML (keys as in configs/search_space_paper.yaml); errors name the file."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: cannot read search space: {exc}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"{path}: invalid search space: {problems}") from exc

    # ---- choices ------------------------------------------------------------------------------
    def heads_for(self, width: int) -> tuple[int, ...]:
        """Valid head counts for a width: width / head_dim for each head dim that divides it."""
        return tuple(sorted({width // d for d in self.head_dims if width % d == 0}))

    def max_width(self, stage: int) -> int:
        return self.stages[stage].widths[-1]

    def max_depth(self, stage: int) -> int:
        return self.stages[stage].depths[-1]

    def max_hidden(self, stage: int) -> int:
        return math.ceil(self.stages[stage].ffn_ratios[-1] * self.max_width(stage))

    def block_positions(self) -> list[tuple[int, int]]:
        """Every (stage, block) position up to the maximum depth, in forward order."""
        return [(s, b) for s in range(NUM_STAGES) for b in range(self.max_depth(s))]

    def decoder_edge_slots(self) -> list[tuple[int, int]]:
        """Every candidate (src, dst) MFAM edge: a decoder node may read any earlier node."""
        return [(src, dst) for dst in range(NUM_LEVELS, self.num_decoder_nodes) for src in range(dst)]

    @property
    def num_decoder_nodes(self) -> int:
        return NUM_LEVELS + len(self.decoder.node_levels)

    # ---- sampling -----------------------------------------------------------------------------
    def sample_op(self, rng: random.Random, position: tuple[int, int], op_probs: OpProbs | None) -> str:
        probs = (op_probs or {}).get(position)
        if not probs:
            return rng.choice(self.operators)
        weights = [max(float(probs.get(op, 0.0)), 0.0) for op in self.operators]
        if sum(weights) <= 0:
            return rng.choice(self.operators)
        return rng.choices(self.operators, weights=weights)[0]

    def sample_block(self, rng: random.Random, stage: int, width: int, op: str) -> BlockArch:
        ratio = rng.choice(self.stages[stage].ffn_ratios)
        kernel = rng.choice(self.kernel_sizes) if op == "conv" else None
        heads = rng.choice(self.heads_for(width)) if op == "transformer" else None
        return BlockArch(op=op, ffn_ratio=ratio, kernel_size=kernel, num_heads=heads)

    def sample_stage(self, rng: random.Random, stage: int, op_probs: OpProbs | None = None) -> StageArch:
        space = self.stages[stage]
        width = rng.choice(space.widths)
        depth = rng.choice(space.depths)
        blocks = tuple(
            self.sample_block(rng, stage, width, self.sample_op(rng, (stage, b), op_probs))
            for b in range(depth)
        )
        return StageArch(width=width, blocks=blocks)

    def sample_node_edges(self, rng: random.Random, node: int) -> tuple[DecoderEdge, ...]:
        dec = self.decoder
        degree = rng.randint(1, min(dec.max_in_degree, node))
        sources = rng.sample(range(node), degree)
        return tuple(DecoderEdge(src=s, dst=node, op=rng.choice(dec.edge_ops)) for s in sources)

    def sample_pool_sizes(self, rng: random.Random) -> tuple[int, ...]:
        n = rng.randint(1, self.decoder.ppm_max_branches)
        return tuple(sorted(rng.sample(self.decoder.ppm_pool_sizes, n)))

    def sample_decoder(self, rng: random.Random) -> DecoderArch:
        edges = [
            e for node in range(NUM_LEVELS, self.num_decoder_nodes) for e in self.sample_node_edges(rng, node)
        ]
        return self._decoder(edges, self.sample_pool_sizes(rng))

    def sample(self, rng: random.Random, op_probs: OpProbs | None = None) -> Arch:
        """Uniform random architecture; ``op_probs[(stage, block)][op]`` biases the operator choice."""
        stages = tuple(self.sample_stage(rng, s, op_probs) for s in range(NUM_STAGES))
        return Arch(stages, self.sample_decoder(rng), self.stem, self.conv_wp)

    def _decoder(self, edges: list[DecoderEdge], pools: tuple[int, ...]) -> DecoderArch:
        return DecoderArch(
            channels=self.decoder.channels,
            node_levels=self.decoder.node_levels,
            edges=tuple(edges),
            ppm_pool_sizes=tuple(pools),
        )

    # ---- bounds -------------------------------------------------------------------------------
    def _extreme(self, largest: bool) -> Arch:
        from autonad_core.models.complexity import block_params  # local: complexity needs only arch

        pick = max if largest else min
        stages = []
        for space in self.stages:
            width = pick(space.widths)
            ratio = pick(space.ffn_ratios)
            options = []
            for op in self.operators:
                kernel = pick(self.kernel_sizes) if op == "conv" else None
                heads = pick(self.heads_for(width)) if op == "transformer" else None
                options.append(BlockArch(op=op, ffn_ratio=ratio, kernel_size=kernel, num_heads=heads))
            dense = self.conv_wp == "dense"
            block = pick(options, key=lambda b, w=width: block_params(b, w, dense))
            stages.append(StageArch(width=width, blocks=(block,) * pick(space.depths)))
        dec = self.decoder
        edges = []
        for node in range(NUM_LEVELS, self.num_decoder_nodes):
            if largest:
                base = DecoderArch(dec.channels, dec.node_levels, (), (1,)).base_node(node)
                others = [n for n in reversed(range(node)) if n != base]
                sources = [base, *others][: min(dec.max_in_degree, node)]
                op = "conv5x5" if "conv5x5" in dec.edge_ops else dec.edge_ops[-1]
            else:
                sources = [node - 1]
                op = "conv1x1" if "conv1x1" in dec.edge_ops else dec.edge_ops[0]
            edges += [DecoderEdge(src=src, dst=node, op=op) for src in sources]
        sizes = sorted(dec.ppm_pool_sizes)
        pools = tuple(sizes[-dec.ppm_max_branches :]) if largest else (sizes[0],)
        return Arch(tuple(stages), self._decoder(edges, pools), self.stem, self.conv_wp)

    def largest(self) -> Arch:
        """Deepest, widest subnet; per block the operator with the most parameters, densest MFAM."""
        return self._extreme(largest=True)

    def smallest(self) -> Arch:
        """Shallowest, narrowest subnet; per block the operator with the fewest parameters."""
        return self._extreme(largest=False)

    # ---- validation ---------------------------------------------------------------------------
    def validate(self, arch: Arch) -> Arch:
        """Return ``arch`` if it lies in this space, else raise ArchValidationError naming the field."""
        if not isinstance(arch, Arch):
            raise ArchValidationError(f"arch: expected an Arch, got {type(arch).__name__}")
        if len(arch.stages) != NUM_STAGES:
            raise ArchValidationError(f"stages: expected {NUM_STAGES}, got {len(arch.stages)}")
        if arch.stem != self.stem:
            raise ArchValidationError(
                f"stem: {arch.stem!r} but this search space uses the {self.stem!r} stem"
            )
        if arch.conv_wp != self.conv_wp:
            raise ArchValidationError(
                f"conv_wp: {arch.conv_wp!r} but this search space uses the {self.conv_wp!r} W_P"
            )
        for s, (st, space) in enumerate(zip(arch.stages, self.stages, strict=True)):
            where = f"stages[{s}]"
            _check(st.width in space.widths, f"{where}.width", st.width, space.widths)
            _check(st.depth in space.depths, f"{where}.depth", st.depth, space.depths)
            for b, blk in enumerate(st.blocks):
                self._validate_block(blk, st.width, space, f"{where}.blocks[{b}]")
        self._validate_decoder(arch.decoder)
        return arch

    def _validate_block(self, blk: BlockArch, width: int, space: StageSpace, where: str) -> None:
        _check(blk.op in self.operators, f"{where}.op", blk.op, self.operators)
        _check(
            any(abs(blk.ffn_ratio - r) < 1e-9 for r in space.ffn_ratios),
            f"{where}.ffn_ratio",
            blk.ffn_ratio,
            space.ffn_ratios,
        )
        if blk.op == "conv":
            _check(
                blk.kernel_size in self.kernel_sizes,
                f"{where}.kernel_size",
                blk.kernel_size,
                self.kernel_sizes,
            )
        elif blk.kernel_size is not None:
            raise ArchValidationError(f"{where}.kernel_size: set on a {blk.op} block (conv only)")
        if blk.op == "transformer":
            heads = self.heads_for(width)
            _check(blk.num_heads in heads, f"{where}.num_heads", blk.num_heads, heads)
        elif blk.num_heads is not None:
            raise ArchValidationError(f"{where}.num_heads: set on a {blk.op} block (transformer only)")

    def _validate_decoder(self, dec: DecoderArch) -> None:
        space = self.decoder
        _check(dec.channels == space.channels, "decoder.channels", dec.channels, (space.channels,))
        _check(
            dec.node_levels == space.node_levels, "decoder.node_levels", dec.node_levels, (space.node_levels,)
        )
        seen = set()
        for e in dec.edges:
            where = f"decoder.edges[{e.src}->{e.dst}]"
            _check(
                NUM_LEVELS <= e.dst < dec.num_nodes, f"{where}.dst", e.dst, range(NUM_LEVELS, dec.num_nodes)
            )
            _check(0 <= e.src < e.dst, f"{where}.src", e.src, range(e.dst))
            _check(e.op in space.edge_ops, f"{where}.op", e.op, space.edge_ops)
            if (e.src, e.dst) in seen:
                raise ArchValidationError(f"{where}: duplicate edge")
            seen.add((e.src, e.dst))
        for node in range(NUM_LEVELS, dec.num_nodes):
            degree = len(dec.incoming(node))
            if not 1 <= degree <= space.max_in_degree:
                raise ArchValidationError(
                    f"decoder node {node}: in-degree {degree} outside 1..{space.max_in_degree}"
                )
        pools = dec.ppm_pool_sizes
        if not 1 <= len(pools) <= space.ppm_max_branches or len(set(pools)) != len(pools):
            raise ArchValidationError(
                f"decoder.ppm_pool_sizes: {list(pools)} needs 1..{space.ppm_max_branches} distinct sizes"
            )
        for p in pools:
            _check(p in space.ppm_pool_sizes, "decoder.ppm_pool_sizes", p, space.ppm_pool_sizes)

    def contains(self, arch: Arch) -> bool:
        try:
            self.validate(arch)
        except ArchValidationError:
            return False
        return True

    def describe(self) -> str:
        """Human-readable summary of the ranges (for an ``autonad space`` command and logs)."""
        lines = [
            f"operators: {', '.join(self.operators)}; conv kernels {list(self.kernel_sizes)}; "
            f"head dims {list(self.head_dims)}"
        ]
        for i, st in enumerate(self.stages):
            lines.append(
                f"stage {i + 1}: depth {list(st.depths)}, width {list(st.widths)}, "
                f"FFN ratio {[f'{r:g}' for r in st.ffn_ratios]}"
            )
        dec = self.decoder
        lines.append(
            f"MFAM: {dec.channels} ch, nodes at levels {list(dec.node_levels)}, "
            f"in-degree 1..{dec.max_in_degree}, {len(self.decoder_edge_slots())} candidate edges, "
            f"ops {list(dec.edge_ops)}"
        )
        lines.append(f"PPM: 1..{dec.ppm_max_branches} pool sizes from {list(dec.ppm_pool_sizes)}")
        return "\n".join(lines)


def _check(ok: bool, field: str, value: object, allowed: object) -> None:
    if not ok:
        shown = list(allowed) if isinstance(allowed, tuple | range) else allowed
        raise ArchValidationError(f"{field}: {value!r} is outside the search space (allowed: {shown})")
