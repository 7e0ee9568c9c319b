"""The latency table: what every part of a subnet costs on the target device, measured once.

Why a table: an end-to-end timing of each candidate is noisy (the same architecture timed twice differed
by 15 % median, 53 % at most on a shared CPU), and that noise entered the score, λ, the latency
constraint and the prior, so two searches with the same seed picked different networks. The table is
measured once per design (medians after warm-up, device synchronised), written beside the design as
``latency_table.json`` and reused on a re-run or passed to another run (``search.latency_table``); the
latency of an architecture is then a sum of table entries, the same number every time.

Entries (median ms, batch 1, plain modules of :mod:`autonad_core.models.subnet` with random weights,
since latency does not depend on weight values):

- ``embed|s|c_in|width``: stage s's patch embedding, stage LayerNorm and token reshapes;
- ``block|s|op|width|hidden|k``: one backbone block (Step I + operator + FFN, norms, residuals) with
  ``k`` = kernel size (conv), heads (transformer) or 0 (mlp). Every block of a stage sees the same input
  shape, so the block's stage is the part of its position that latency depends on;
- decoder: ``lateral|level|width``, ``ppm_branch|width|pool``, ``ppm_bottleneck|width|branches``,
  ``edge|src_level|dst_level|op`` and ``head`` (node norms, fusion, classifier, final upsampling; fixed
  by the space).

A table is tied to its search space, input size, channels, classes and device; using one with any of
them different is refused with the mismatch named.

The sum of parts timed alone is not a whole forward pass: on a shared 2-core host at 320x320, 1
thread, eight random `cpu-small` subnets ran 1.09-1.36x (median 1.31x) their table sum in one
measurement, five ran 0.94-1.09x (median 1.05x) in another, and the fastest subnets ran ~0.82x. So the
table also times ``CALIBRATION_ARCHS`` whole random subnets (a fixed draw) and scales every sum by the
median ratio (``end_to_end_scale``, stored with the ratios): a latency, and ``search.max_latency_ms``,
are in end-to-end milliseconds on average; the per-arch error of a sum (±20 % seen) remains. The
scale is one factor for all, so the ranking, λ = 'auto' (which divides by the mean latency) and the
prior (relative per-position means) are as without it. A table written without the scale (before it
existed) reads as scale 1.
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autonad_core.atomic_io import atomic_write_json
from autonad_core.config import ConfigError, DesignConfig, resolve_device
from autonad_core.models.arch import NUM_LEVELS, SR_RATIOS, Arch, BlockArch, StageArch
from autonad_core.models.blocks import SubnetBlock
from autonad_core.models.complexity import level_sizes
from autonad_core.models.search_space import SearchSpace
from autonad_core.models.subnet import Subnet, SubnetStage
from autonad_core.models.subnet_mfam import MFAM, PPM
from autonad_core.ops.decoder_layers import ConvNormAct, EdgeOp, edge_output, resize_to
from autonad_core.training.timing import device_name, time_forward

TABLE_FILE = "latency_table.json"
TABLE_FORMAT = "autonad-latency-table"
TABLE_VERSION = 1
CALIBRATION_ARCHS = 5  # whole subnets timed to scale the sums to end-to-end latency


class LatencyTableError(ConfigError):
    """A latency table cannot be used for this run; the message names the file and the mismatch."""


def block_key(stage: int, width: int, blk: BlockArch) -> str:
    param = blk.kernel_size if blk.op == "conv" else blk.num_heads if blk.op == "transformer" else 0
    return f"block|{stage}|{blk.op}|{width}|{blk.hidden_dim(width)}|{param}"


def _node_level(space: SearchSpace, node: int) -> int:
    return node + 1 if node < NUM_LEVELS else space.decoder.node_levels[node - NUM_LEVELS]


def arch_parts(arch: Arch, in_channels: int) -> list[str]:
    """The table keys whose sum is the latency of ``arch`` (one per part, repeated parts repeated)."""
    keys, prev = [], in_channels
    for s, st in enumerate(arch.stages):
        keys.append(f"embed|{s}|{prev}|{st.width}")
        keys.extend(block_key(s, st.width, blk) for blk in st.blocks)
        prev = st.width
    dec = arch.decoder
    keys.extend(f"lateral|{level + 1}|{arch.widths[level]}" for level in range(NUM_LEVELS - 1))
    keys.extend(f"ppm_branch|{arch.widths[-1]}|{p}" for p in dec.ppm_pool_sizes)
    keys.append(f"ppm_bottleneck|{arch.widths[-1]}|{len(dec.ppm_pool_sizes)}")
    keys.extend(f"edge|{dec.node_level(e.src)}|{dec.node_level(e.dst)}|{e.op}" for e in dec.edges)
    keys.append("head")
    return keys


def space_identity(space: SearchSpace) -> dict:
    """The search space as plain JSON plus its SHA-256 (what a table is tied to)."""
    data = space.model_dump(mode="json")
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return {"sha256": digest, "space": data}


@dataclass(frozen=True)
class LatencyTable:
    """Median ms per part (module docstring) and the conditions it was measured under."""

    entries: dict[str, float]
    meta: dict

    def latency_ms(self, arch: Arch) -> float:
        """End-to-end latency of ``arch``: the sum of its parts times the table's ``end_to_end_scale``
        (deterministic; a missing part is an error)."""
        return self.parts_ms(arch) * float(self.meta.get("end_to_end_scale", 1.0))

    def parts_ms(self, arch: Arch) -> float:
        """The plain sum of ``arch``'s parts as timed alone."""
        total = 0.0
        for key in arch_parts(arch, self.meta["in_channels"]):
            if key not in self.entries:
                raise LatencyTableError(f"latency table has no entry {key!r}: is the arch in its space?")
            total += self.entries[key]
        return total

    def operator_means(self, space: SearchSpace) -> dict[tuple[int, int], dict[str, float | None]]:
        """Mean block ms per (stage, block position, operator) over the widths, hidden sizes and
        kernels/heads the space allows there (the latency map the prior is built from)."""
        by_stage: dict[tuple[int, str], list[float]] = {}
        for key, ms in self.entries.items():
            parts = key.split("|")
            if parts[0] == "block":
                by_stage.setdefault((int(parts[1]), parts[2]), []).append(ms)
        return {
            (s, b): {
                op: statistics.fmean(by_stage[(s, op)]) if by_stage.get((s, op)) else None
                for op in space.operators
            }
            for s, b in space.block_positions()
        }

    def sha256(self) -> str:
        """Content hash of the table (a resumed search must use the same one)."""
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()

    def to_json(self) -> dict:
        return {"format": TABLE_FORMAT, "version": TABLE_VERSION, **self.meta, "entries": self.entries}

    def save(self, path: Path) -> Path:
        return atomic_write_json(Path(path), self.to_json())

    @classmethod
    def load(cls, path: Path) -> LatencyTable:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise LatencyTableError(f"{path}: latency table not found") from exc
        except json.JSONDecodeError as exc:
            raise LatencyTableError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != TABLE_FORMAT:
            raise LatencyTableError(f"{path}: not an AutoNAD latency table")
        if data.get("version") != TABLE_VERSION:
            raise LatencyTableError(f"{path}: unsupported latency table version {data.get('version')!r}")
        entries = {str(k): float(v) for k, v in data.pop("entries").items()}
        data.pop("format"), data.pop("version")
        return cls(entries, data)

    def check_matches(self, expected: dict, where: Path | str) -> None:
        """Refuse a table measured for another space, device, input size, channels or classes."""
        names = {
            "space_sha256": "search space",
            "device": "device",
            "input_size": "input size",
            "in_channels": "input channels",
            "num_classes": "number of classes",
        }
        for field, label in names.items():
            if self.meta.get(field) != expected[field]:
                detail = ""
                if field == "space_sha256":
                    ours, theirs = expected["space"], self.meta.get("space") or {}
                    differ = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
                    detail = f" (differs in: {', '.join(differ)})"
                    shown = (self.meta.get(field, "?")[:12], expected[field][:12])
                else:
                    shown = (self.meta.get(field), expected[field])
                raise LatencyTableError(
                    f"{where}: latency table was measured for another {label}{detail}: "
                    f"table {shown[0]!r}, this run {shown[1]!r}"
                )


def expected_meta(
    space: SearchSpace, in_channels: int, num_classes: int, input_size: tuple[int, int], device: str
) -> dict:
    identity = space_identity(space)
    return {
        "space_sha256": identity["sha256"],
        "space": identity["space"],
        "device": device_name(device),
        "input_size": [int(input_size[0]), int(input_size[1])],
        "in_channels": int(in_channels),
        "num_classes": int(num_classes),
    }


def _parts(
    space: SearchSpace, in_channels: int, num_classes: int, input_size: tuple[int, int], device: str
) -> Iterator[tuple[str, nn.Module, Callable[[nn.Module, Tensor], Tensor], tuple[int, ...]]]:
    """(key, module, forward(module, x), input shape) for every entry the space needs."""
    sizes = level_sizes(*input_size)
    prev_sizes = [tuple(input_size), *sizes[:-1]]
    for s, st in enumerate(space.stages):
        inputs = (in_channels,) if s == 0 else space.stages[s - 1].widths
        for c_in in inputs:
            for w in st.widths:
                stage = SubnetStage(s, c_in, StageArch(w, ()), [], space.stem)
                yield f"embed|{s}|{c_in}|{w}", stage, _call_with, (1, c_in, *prev_sizes[s])
        h, w_ = sizes[s]
        for w in st.widths:
            for ratio in st.ffn_ratios:
                for op in space.operators:
                    for k in space.kernel_sizes if op == "conv" else (None,):
                        for heads in space.heads_for(w) if op == "transformer" else (None,):
                            blk = BlockArch(op, ratio, k, heads)
                            module = SubnetBlock(w, blk, SR_RATIOS[s], 0.0, space.conv_wp == "dense")
                            forward = partial(_call_with, extra=((h, w_),))
                            yield block_key(s, w, blk), module, forward, (1, h * w_, w)
    dec, d = space.decoder, space.decoder.channels
    for level in range(1, NUM_LEVELS):
        for w in space.stages[level - 1].widths:
            yield f"lateral|{level}|{w}", ConvNormAct(w, d, 1), _call_with, (1, w, *sizes[level - 1])
    for w in space.stages[-1].widths:
        ppm = PPM(w, d, tuple(dec.ppm_pool_sizes))
        for p in dec.ppm_pool_sizes:
            yield (
                f"ppm_branch|{w}|{p}",
                ppm.branches[str(p)],
                partial(_ppm_branch, pool=p),
                (1, w, *sizes[-1]),
            )
        for n in range(1, dec.ppm_max_branches + 1):
            bottleneck = PPM(w, d, tuple(range(1, n + 1)))
            yield (
                f"ppm_bottleneck|{w}|{n}",
                bottleneck,
                _ppm_bottleneck,
                (1, w + n * d, *sizes[-1]),
            )
    seen = set()
    for src, dst in space.decoder_edge_slots():
        src_level, dst_level = _node_level(space, src), _node_level(space, dst)
        for op in dec.edge_ops:
            key = f"edge|{src_level}|{dst_level}|{op}"
            if key in seen:
                continue
            seen.add(key)
            size = sizes[dst_level - 1]
            yield (
                key,
                EdgeOp(d, op),
                partial(_edge, src_level=src_level, dst_level=dst_level, size=size),
                (1, d, *sizes[src_level - 1]),
            )
    head = MFAM(space.smallest().decoder, tuple(st.widths[0] for st in space.stages), num_classes)
    levels = [_node_level(space, n) for n in range(NUM_LEVELS, space.num_decoder_nodes)]
    maps = [torch.randn(1, d, *size, device=device) for size in sizes]  # one map per level

    def run_head(m: nn.Module, x: Tensor) -> Tensor:
        for norm, level in zip(m.node_norms, levels, strict=True):
            F.relu(norm(maps[level - 1]))
        fused = m.fuse(torch.cat([x, *(resize_to(o, sizes[0]) for o in maps[1:])], dim=1))
        return resize_to(m.classifier(fused), tuple(input_size))

    yield "head", head, run_head, (1, d, *sizes[0])


def _call_with(module: nn.Module, x: Tensor, extra: tuple = ()) -> Tensor:
    return module(x, *extra)


def _ppm_branch(module: nn.Module, x: Tensor, pool: int) -> Tensor:
    return resize_to(module(F.adaptive_avg_pool2d(x, pool)), x.shape[-2:])


def _ppm_bottleneck(module: nn.Module, x: Tensor) -> Tensor:
    return F.relu(module.norm(module.bottleneck(x)))


def _edge(module: nn.Module, x: Tensor, src_level: int, dst_level: int, size: tuple[int, int]) -> Tensor:
    return edge_output(module, x, src_level, dst_level, size)


@torch.no_grad()
def measure_table(
    space: SearchSpace,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int],
    device: str,
    warmup: int = 2,
    repeats: int = 5,
) -> LatencyTable:
    """Time every part the space can use (median of ``repeats`` after ``warmup`` runs each).

    The global torch RNG is left as it was (building modules draws from it), so measuring the table in
    the middle of a design does not change what the design trains.
    """
    entries: dict[str, float] = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for key, module, forward, shape in _parts(space, in_channels, num_classes, input_size, device):
            run = partial(forward, module.to(device).eval())
            example = torch.randn(shape, device=device)
            entries[key] = statistics.median(time_forward(run, example, warmup, repeats))
        meta = expected_meta(space, in_channels, num_classes, input_size, device)
        meta.update({"warmup": warmup, "repeats": repeats, "statistic": "median ms, batch 1"})
        table = LatencyTable(dict(sorted(entries.items())), meta)
        ratios = _end_to_end_ratios(
            table, space, in_channels, num_classes, input_size, device, warmup, repeats
        )
    table.meta.update({"end_to_end_scale": statistics.median(ratios), "end_to_end_ratios": ratios})
    return table


def _end_to_end_ratios(
    table: LatencyTable,
    space: SearchSpace,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int],
    device: str,
    warmup: int,
    repeats: int,
) -> list[float]:
    """Whole-forward time / table sum of ``CALIBRATION_ARCHS`` subnets drawn with a fixed seed."""
    rng = random.Random(0)
    example = torch.randn(1, in_channels, *input_size, device=device)
    ratios = []
    for _ in range(CALIBRATION_ARCHS):
        arch = space.sample(rng)
        model = Subnet(arch, in_channels, num_classes).to(device).eval()
        whole = statistics.median(time_forward(model, example, warmup, repeats))
        ratios.append(round(whole / max(table.parts_ms(arch), 1e-9), 4))
    return ratios


def ensure_table(
    out_dir: Path,
    space: SearchSpace,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int],
    device: str,
    warmup: int,
    repeats: int,
    given: Path | None = None,
) -> LatencyTable:
    """The design's table: ``<out>/latency_table.json`` if present, else ``given`` (copied there), else
    measured now and written there. Whichever it is must match this run (``check_matches``)."""
    path = Path(out_dir) / TABLE_FILE
    expected = expected_meta(space, in_channels, num_classes, input_size, device)
    source = path if path.is_file() else Path(given) if given else None
    if source is None:
        table = measure_table(space, in_channels, num_classes, input_size, device, warmup, repeats)
        table.save(path)
        return table
    table = LatencyTable.load(source)
    table.check_matches(expected, source)
    if source != path:
        table.save(path)
    return table


def design_table(
    cfg: DesignConfig, out_dir: Path, space: SearchSpace, in_channels: int, num_classes: int
) -> LatencyTable:
    """The table of a design (prior and search use the same one): measured on the search's target
    device at its latency input size, or the one ``search.latency_table`` names."""
    sc = cfg.search
    device = resolve_device(cfg.device)
    target = resolve_device(sc.target_device or cfg.target_device or device)
    size = tuple(sc.latency_input_size or cfg.data.input_size)
    return ensure_table(
        out_dir,
        space,
        in_channels,
        num_classes,
        size,
        target,
        sc.latency_warmup,
        sc.latency_repeats,
        sc.latency_table,
    )
