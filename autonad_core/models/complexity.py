"""Parameter and FLOP counts of an architecture, computed from the arch alone (no model is built).

The formulas mirror :class:`autonad_core.models.subnet.Subnet` layer by layer; tests check them against the
materialized module (parameters: ``sum(p.numel())``; FLOPs: ``torch.utils.flop_counter``).
FLOPs are multiply-accumulates (MACs) of convolutions, linear layers and the two attention matmuls,
the usual convention of segmentation papers; norms, activations, softmax, pooling and resizing are
not counted (they are linear in the activation size and small).
"""

from __future__ import annotations

from autonad_core.models.arch import NUM_LEVELS, PATCH_KERNELS, PATCH_STRIDES, SR_RATIOS, Arch, BlockArch
from autonad_core.ops.attention import reduced_size
from autonad_core.ops.decoder_layers import EDGE_KERNEL

SPLIT_ATTENTION_REDUCTION = 4


def _conv_out(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * ((kernel - 1) // 2) - kernel) // stride + 1


def level_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Grid size of the four backbone levels for an input of ``height x width``."""
    sizes, h, w = [], height, width
    for k, s in zip(PATCH_KERNELS, PATCH_STRIDES, strict=True):
        h, w = _conv_out(h, k, s), _conv_out(w, k, s)
        sizes.append((h, w))
    return sizes


def _mixer_params(blk: BlockArch, c: int, dense_wp: bool = False) -> int:
    if blk.op == "conv":
        return c * 3 * (c if dense_wp else 1) * blk.kernel_size**2 + c
    if blk.op == "mlp":
        hid = max(c // SPLIT_ATTENTION_REDUCTION, 1)
        return (c * hid + hid) + (hid * 3 * c + 3 * c)
    return 0


def block_params(blk: BlockArch, c: int, dense_wp: bool = False) -> int:
    """Parameters of one block at width ``c`` (norms, Step I + output projection, operator, FFN);
    ``dense_wp``: the conv operator's W_P is a full convolution (space switch ``conv_wp: dense``)."""
    h = blk.hidden_dim(c)
    norms = 2 * (2 * c)
    step_one = 4 * (c * c + c)
    ffn = (c * h + h) + (9 * h + h) + (h * c + c)
    return norms + step_one + _mixer_params(blk, c, dense_wp) + ffn


def block_flops(blk: BlockArch, c: int, hw: tuple[int, int], sr_ratio: int, dense_wp: bool = False) -> int:
    """MACs of one block on an ``hw`` grid."""
    n = hw[0] * hw[1]
    h = blk.hidden_dim(c)
    macs = 4 * n * c * c + n * (2 * h * c + 9 * h)
    if blk.op == "transformer":
        rh, rw = reduced_size(hw, sr_ratio)
        macs += 2 * n * (rh * rw) * c
    elif blk.op == "conv":
        macs += n * c * 3 * (c if dense_wp else 1) * blk.kernel_size**2
    else:
        hid = max(c // SPLIT_ATTENTION_REDUCTION, 1)
        macs += c * hid + hid * 3 * c
    return macs


def _edge_weights(op: str, d: int) -> int:
    k = EDGE_KERNEL[op]
    return d * d * k * k + (9 * d if op == "dw3x3" else 0)


def _decoder_params(arch: Arch, num_classes: int) -> int:
    dec, d = arch.decoder, arch.decoder.channels
    gn = 2 * d
    laterals = sum(w * d + gn for w in arch.widths[: NUM_LEVELS - 1])
    c4, n_pool = arch.widths[-1], len(dec.ppm_pool_sizes)
    ppm = n_pool * (c4 * d + gn) + (c4 + n_pool * d) * d * 9 + gn
    edges = sum(_edge_weights(e.op, d) for e in dec.edges)
    nodes = len(dec.node_levels) * gn
    head = (NUM_LEVELS * d * d + gn) + (d * num_classes + num_classes)
    return laterals + ppm + edges + nodes + head


def _stem_params(arch: Arch, s: int, prev: int, c: int) -> int:
    """Stage s's embedding: patch conv + bias + LayerNorm, or the conv stem's two convs and norms."""
    if s == 0 and arch.stem == "conv":
        return (c * prev * 9 + c + 2 * c) + (c * c * 9 + c + 2 * c)
    return c * prev * PATCH_KERNELS[s] ** 2 + c + 2 * c


def _stem_flops(arch: Arch, s: int, prev: int, c: int, height: int, width: int, area: int) -> int:
    if s == 0 and arch.stem == "conv":
        half = _conv_out(height, 3, 2) * _conv_out(width, 3, 2)
        return half * c * prev * 9 + area * c * c * 9
    return area * c * prev * PATCH_KERNELS[s] ** 2


def count_params(arch: Arch, in_channels: int = 3, num_classes: int = 2) -> int:
    """Exact number of parameters of ``Subnet(arch, in_channels, num_classes)``."""
    total, prev = 0, in_channels
    for s, st in enumerate(arch.stages):
        c = st.width
        total += _stem_params(arch, s, prev, c)
        total += sum(block_params(blk, c, arch.conv_wp == "dense") for blk in st.blocks)
        total += 2 * c  # stage LayerNorm
        prev = c
    return total + _decoder_params(arch, num_classes)


def count_flops(arch: Arch, height: int, width: int, in_channels: int = 3, num_classes: int = 2) -> int:
    """Multiply-accumulates of one forward pass of one ``height x width`` image."""
    sizes = level_sizes(height, width)
    areas = [h * w for h, w in sizes]
    total, prev = 0, in_channels
    for s, st in enumerate(arch.stages):
        c = st.width
        total += _stem_flops(arch, s, prev, c, height, width, areas[s])
        dense = arch.conv_wp == "dense"
        total += sum(block_flops(blk, c, sizes[s], SR_RATIOS[s], dense) for blk in st.blocks)
        prev = c
    dec, d = arch.decoder, arch.decoder.channels
    total += sum(areas[lvl] * arch.widths[lvl] * d for lvl in range(NUM_LEVELS - 1))
    c4, pools = arch.widths[-1], dec.ppm_pool_sizes
    total += sum(p * p * c4 * d for p in pools)
    total += areas[-1] * (c4 + len(pools) * d) * d * 9
    for e in dec.edges:
        area = areas[max(dec.node_level(e.src), dec.node_level(e.dst)) - 1]  # the coarser grid
        total += area * _edge_weights(e.op, d)
    total += areas[0] * (NUM_LEVELS * d * d + d * num_classes)
    return total


def describe_complexity(
    arch: Arch, height: int, width: int, in_channels: int = 3, num_classes: int = 2
) -> str:
    params = count_params(arch, in_channels, num_classes)
    flops = count_flops(arch, height, width, in_channels, num_classes)
    return f"{params / 1e6:.2f} M params, {flops / 1e9:.2f} GMACs at {height}x{width}"


__all__ = ["block_flops", "block_params", "count_flops", "count_params", "describe_complexity", "level_sizes"]
