"""Architecture encoding: one immutable, hashable value per subnet of the AutoNAD search space.

An :class:`Arch` is everything needed to build, count and run one subnet: per stage its width and the
list of active blocks (operator, FFN ratio, kernel size, heads), and the MFAM decoder (which DAG edges
exist and which op each uses, the PPM pool sizes). Depth is the number of blocks. Fields that an
operator does not use are ``None`` (a transformer block has no kernel size), so two architectures that
build the same network compare and hash equal.

Fixed backbone constants (not searched, see ../shared/design/AUTONAD.md §9) live here too, so a
parameter or FLOP count needs nothing but the arch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS: tuple[str, ...] = ("mlp", "transformer", "conv")
DECODER_OPS: tuple[str, ...] = ("conv1x1", "conv3x3", "conv5x5", "dil3x3", "dw3x3")
NUM_STAGES = 4
NUM_LEVELS = 4  # MFAM input nodes 0..3 are the four backbone levels (strides 4, 8, 16, 32)
STAGE_STRIDES: tuple[int, ...] = (4, 8, 16, 32)
SR_RATIOS: tuple[int, ...] = (8, 4, 2, 1)  # spatial reduction of keys/values per stage (PVT)
PATCH_KERNELS: tuple[int, ...] = (7, 3, 3, 3)
PATCH_STRIDES: tuple[int, ...] = (4, 2, 2, 2)
# Stage-1 stems: "patch" = the paper's 7x7 stride-4 patch embedding; "conv" = two 3x3 stride-2
# conv-LayerNorm-GELU layers (more local detail before stride 4, like the hand-designed baselines).
STEMS: tuple[str, ...] = ("patch", "conv")
# W_P of the conv operator: "grouped" = the paper's per-channel (q, k, v) -> 1 projection; "dense" = a
# full k x k convolution from all 3C Step-I channels.
CONV_WPS: tuple[str, ...] = ("grouped", "dense")
ARCH_FORMAT_VERSION = 1

Position = tuple[int, int]  # (stage, block index) of a backbone block
# Probability of each operator per block position: what the latency prior produces and what sampling
# and mutation take. Defined once here because both sides depend on this module only.
OpProbs = Mapping[Position, Mapping[str, float]]


class ArchValidationError(ValueError):
    """An architecture (or its JSON) is malformed or outside a search space; the message names the field."""


@dataclass(frozen=True)
class BlockArch:
    """One backbone block: its Step-II operator, FFN ratio, and the operator's own setting.

    ``kernel_size`` is set only for ``conv`` blocks, ``num_heads`` only for ``transformer`` blocks.
    """

    op: str
    ffn_ratio: float
    kernel_size: int | None = None
    num_heads: int | None = None

    def hidden_dim(self, width: int) -> int:
        """FFN hidden width for a stage width (ratio steps of 0.5 x widths of 32 give integers)."""
        return round(self.ffn_ratio * width)

    def label(self) -> str:
        if self.op == "conv":
            return f"conv{self.kernel_size}"
        if self.op == "transformer":
            return f"msa{self.num_heads}h"
        return self.op


@dataclass(frozen=True)
class StageArch:
    """One backbone stage: width (channels) and the active blocks in forward order (depth = len)."""

    width: int
    blocks: tuple[BlockArch, ...]

    @property
    def depth(self) -> int:
        return len(self.blocks)


@dataclass(frozen=True)
class DecoderEdge:
    """A searchable MFAM edge: node ``src`` feeds node ``dst`` through ``op`` (one of DECODER_OPS).

    Nodes 0..3 are the backbone levels (node 3 = PPM output); node 4 + i is ``node_levels[i]``.
    """

    src: int
    dst: int
    op: str


@dataclass(frozen=True)
class DecoderArch:
    """MFAM decoder: fixed channel count and node levels, searchable edges and PPM pool sizes."""

    channels: int
    node_levels: tuple[int, ...]
    edges: tuple[DecoderEdge, ...]
    ppm_pool_sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        # Canonical order, so equal decoders compare and hash equal however they were built.
        object.__setattr__(self, "node_levels", tuple(self.node_levels))
        object.__setattr__(self, "edges", tuple(sorted(self.edges, key=lambda e: (e.dst, e.src, e.op))))
        object.__setattr__(self, "ppm_pool_sizes", tuple(sorted(self.ppm_pool_sizes)))

    @property
    def num_nodes(self) -> int:
        return NUM_LEVELS + len(self.node_levels)

    def node_level(self, node: int) -> int:
        """Backbone level (1..4) at whose resolution ``node`` lives."""
        return node + 1 if node < NUM_LEVELS else self.node_levels[node - NUM_LEVELS]

    def base_node(self, node: int) -> int:
        """The implicit identity input of a decoder node: the latest earlier node at the same level."""
        level = self.node_level(node)
        return max(n for n in range(node) if self.node_level(n) == level)

    def incoming(self, node: int) -> tuple[DecoderEdge, ...]:
        return tuple(e for e in self.edges if e.dst == node)

    def level_outputs(self) -> tuple[int, ...]:
        """For each level 1..4 the last node at that level: what the fusion head consumes."""
        return tuple(
            max(n for n in range(self.num_nodes) if self.node_level(n) == level)
            for level in range(1, NUM_LEVELS + 1)
        )


@dataclass(frozen=True)
class Arch:
    """A complete subnet: four backbone stages, the MFAM decoder and the stage-1 stem (a search-space
    switch, not searched: every arch of a space has the space's stem)."""

    stages: tuple[StageArch, ...]
    decoder: DecoderArch
    stem: str = "patch"
    conv_wp: str = "grouped"

    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(s.depth for s in self.stages)

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(s.width for s in self.stages)

    def block_ops(self) -> tuple[tuple[int, int, str], ...]:
        """(stage 0..3, block index in stage, operator) for every active block, in forward order."""
        return tuple((s, b, blk.op) for s, st in enumerate(self.stages) for b, blk in enumerate(st.blocks))

    def summary(self) -> str:
        """Readable multi-line description, e.g. for logs and the CLI."""
        lines = []
        for i, st in enumerate(self.stages):
            blocks = " ".join(f"{b.label()}/r{b.ffn_ratio:g}" for b in st.blocks)
            lines.append(
                f"stage {i + 1} (1/{STAGE_STRIDES[i]}): width {st.width:3d}, depth {st.depth}: {blocks}"
            )
        dec = self.decoder
        names = [f"L{n + 1}" for n in range(NUM_LEVELS)] + [
            f"N{i}@L{lvl}" for i, lvl in enumerate(dec.node_levels)
        ]
        edges = ", ".join(f"{names[e.src]}->{names[e.dst]}:{e.op}" for e in dec.edges)
        lines.append(
            f"PPM pool sizes {list(dec.ppm_pool_sizes)}; decoder {dec.channels} ch; "
            f"{self.stem} stem, {self.conv_wp} W_P"
        )
        lines.append(f"MFAM edges: {edges}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        stages = []
        for st in self.stages:
            blocks = []
            for b in st.blocks:
                entry: dict[str, Any] = {"op": b.op, "ffn_ratio": b.ffn_ratio}
                if b.kernel_size is not None:
                    entry["kernel_size"] = b.kernel_size
                if b.num_heads is not None:
                    entry["num_heads"] = b.num_heads
                blocks.append(entry)
            stages.append({"width": st.width, "blocks": blocks})
        dec = self.decoder
        # switches at their paper value are left out, so the paper's arch.json is unchanged
        stem = {} if self.stem == "patch" else {"stem": self.stem}
        if self.conv_wp != "grouped":
            stem["conv_wp"] = self.conv_wp
        return {
            "version": ARCH_FORMAT_VERSION,
            **stem,
            "stages": stages,
            "decoder": {
                "channels": dec.channels,
                "node_levels": list(dec.node_levels),
                "edges": [[e.src, e.dst, e.op] for e in dec.edges],
                "ppm_pool_sizes": list(dec.ppm_pool_sizes),
            },
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> Arch:
        """Parse the dict produced by :meth:`to_dict`; structural errors name the offending field.

        This checks types and self-consistency only; ``SearchSpace.validate`` checks the ranges.
        """
        return _parse_arch(data)

    @classmethod
    def from_json(cls, text: str) -> Arch:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArchValidationError(f"arch JSON is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _require(data: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(data, dict):
        raise ArchValidationError(f"{where}: expected an object, got {type(data).__name__}")
    if key not in data:
        raise ArchValidationError(f"{where}.{key}: missing")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ArchValidationError(f"{where}.{key}: expected {kind}, got {value!r}")
    return value


def _parse_block(data: Any, where: str) -> BlockArch:
    op = _require(data, "op", str, where)
    if op not in OPERATORS:
        raise ArchValidationError(f"{where}.op: unknown operator {op!r} (expected one of {OPERATORS})")
    ratio = float(_require(data, "ffn_ratio", (int, float), where))
    kernel = data.get("kernel_size")
    heads = data.get("num_heads")
    if op == "conv":
        kernel = _require(data, "kernel_size", int, where)
    elif kernel is not None:
        raise ArchValidationError(f"{where}.kernel_size: only conv blocks have a kernel size ({op} block)")
    if op == "transformer":
        heads = _require(data, "num_heads", int, where)
    elif heads is not None:
        raise ArchValidationError(f"{where}.num_heads: only transformer blocks have heads ({op} block)")
    return BlockArch(op=op, ffn_ratio=ratio, kernel_size=kernel, num_heads=heads)


def _parse_arch(data: Any) -> Arch:
    if not isinstance(data, dict):
        raise ArchValidationError(f"arch: expected an object, got {type(data).__name__}")
    version = data.get("version", ARCH_FORMAT_VERSION)
    if version != ARCH_FORMAT_VERSION:
        raise ArchValidationError(f"arch.version: unsupported format version {version!r}")
    stages_raw = _require(data, "stages", list, "arch")
    if len(stages_raw) != NUM_STAGES:
        raise ArchValidationError(f"arch.stages: expected {NUM_STAGES} stages, got {len(stages_raw)}")
    stages = []
    for i, st in enumerate(stages_raw):
        where = f"arch.stages[{i}]"
        width = _require(st, "width", int, where)
        blocks_raw = _require(st, "blocks", list, where)
        blocks = tuple(_parse_block(b, f"{where}.blocks[{j}]") for j, b in enumerate(blocks_raw))
        stages.append(StageArch(width=width, blocks=blocks))
    dec = _require(data, "decoder", dict, "arch")
    edges = []
    for j, e in enumerate(_require(dec, "edges", list, "arch.decoder")):
        ok = isinstance(e, list | tuple) and len(e) == 3
        if (
            not ok
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in e[:2])
            or not isinstance(e[2], str)
        ):
            raise ArchValidationError(f"arch.decoder.edges[{j}]: expected [src, dst, op], got {e!r}")
        edges.append(DecoderEdge(src=e[0], dst=e[1], op=e[2]))
    levels = _require(dec, "node_levels", list, "arch.decoder")
    pools = _require(dec, "ppm_pool_sizes", list, "arch.decoder")
    for name, values in (("node_levels", levels), ("ppm_pool_sizes", pools)):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ArchValidationError(f"arch.decoder.{name}: expected integers, got {values!r}")
    decoder = DecoderArch(
        channels=_require(dec, "channels", int, "arch.decoder"),
        node_levels=tuple(levels),
        edges=tuple(edges),
        ppm_pool_sizes=tuple(pools),
    )
    stem = data.get("stem", "patch")
    if stem not in STEMS:
        raise ArchValidationError(f"arch.stem: unknown stem {stem!r} (expected one of {STEMS})")
    conv_wp = data.get("conv_wp", "grouped")
    if conv_wp not in CONV_WPS:
        raise ArchValidationError(f"arch.conv_wp: unknown W_P form {conv_wp!r} (expected one of {CONV_WPS})")
    return Arch(stages=tuple(stages), decoder=decoder, stem=stem, conv_wp=conv_wp)
