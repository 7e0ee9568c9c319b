"""Standalone subnets: build one from an arch, materialize it from a supernet, save and load it.

A :class:`Subnet` is made of plain ``nn.Linear`` / ``nn.Conv2d`` / norm layers sized for one
architecture: no search space, no slicing, no operator dispatch at run time, so it can be traced,
exported to ONNX and retrained on its own. ``materialize`` builds the structure from the arch and
loads copies of exactly the slices the supernet would use (strict ``load_state_dict``: every
parameter is covered, nothing extra is carried).

On disk a subnet is a directory with ``arch.json``, ``weights.pt`` (state dict) and ``meta.json``;
other files (e.g. the pipeline's ``preprocess.json``) are left alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from autonad_core.atomic_io import atomic_torch_save, atomic_write_text
from autonad_core.models.arch import (
    PATCH_KERNELS,
    PATCH_STRIDES,
    SR_RATIOS,
    Arch,
    ArchValidationError,
    StageArch,
)
from autonad_core.models.blocks import LN_EPS, SubnetBlock
from autonad_core.models.subnet_mfam import MFAM
from autonad_core.ops import map_to_tokens, tokens_to_map

ARCH_FILE, WEIGHTS_FILE, META_FILE = "arch.json", "weights.pt", "meta.json"
SUBNET_FORMAT = "autonad-subnet"
SUBNET_FORMAT_VERSION = 1


class PatchEmbed(nn.Module):
    """Strided conv + LayerNorm -> tokens ``(B, H'*W', C)`` and ``(H', W')``."""

    def __init__(self, in_channels: int, width: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, width, kernel_size, stride, padding=(kernel_size - 1) // 2)
        self.norm = nn.LayerNorm(width, eps=LN_EPS)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        x = self.proj(x)
        return self.norm(map_to_tokens(x)), (x.shape[-2], x.shape[-1])


class ConvStem(nn.Module):
    """The ``conv`` stem of stage 1 (see ``ElasticConvStem``): two 3x3 stride-2 convs, LayerNorm + GELU
    between them, LayerNorm after -> tokens ``(B, H'*W', C)`` and ``(H', W')``."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 2, padding=1)
        self.norm1 = nn.LayerNorm(width, eps=LN_EPS)
        self.proj = nn.Conv2d(width, width, 3, 2, padding=1)
        self.norm = nn.LayerNorm(width, eps=LN_EPS)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        x = self.conv1(x)
        hw = (x.shape[-2], x.shape[-1])
        x = self.proj(tokens_to_map(F.gelu(self.norm1(map_to_tokens(x))), hw))
        return self.norm(map_to_tokens(x)), (x.shape[-2], x.shape[-1])


class SubnetStage(nn.Module):
    """Patch embedding, the stage's blocks, final LayerNorm.

    Shape:
        - Input: ``(B, C_in, H, W)``
        - Output: ``(B, width, H', W')``
    """

    def __init__(
        self,
        index: int,
        in_channels: int,
        st: StageArch,
        drop_rates: list[float],
        stem: str = "patch",
        dense_wp: bool = False,
    ) -> None:
        super().__init__()
        if index == 0 and stem == "conv":
            self.patch_embed = ConvStem(in_channels, st.width)
        else:
            self.patch_embed = PatchEmbed(in_channels, st.width, PATCH_KERNELS[index], PATCH_STRIDES[index])
        self.blocks = nn.ModuleList(
            SubnetBlock(st.width, blk, SR_RATIOS[index], rate, dense_wp)
            for blk, rate in zip(st.blocks, drop_rates, strict=True)
        )
        self.norm = nn.LayerNorm(st.width, eps=LN_EPS)

    def forward(self, x: Tensor) -> Tensor:
        tokens, hw = self.patch_embed(x)
        for block in self.blocks:
            tokens = block(tokens, hw)
        return tokens_to_map(self.norm(tokens), hw)


class Subnet(nn.Module):
    """A fixed AutoNAD segmentation network for one architecture.

    Shape:
        - Input: ``(B, in_channels, H, W)``, any H, W
        - Output: ``(B, num_classes, H, W)`` logits
    """

    def __init__(
        self, arch: Arch, in_channels: int = 3, num_classes: int = 2, drop_path_rate: float = 0.0
    ) -> None:
        super().__init__()
        self.arch, self.in_channels, self.num_classes = arch, in_channels, num_classes
        self.drop_path_rate = drop_path_rate
        n = len(arch.block_ops())
        rates = [drop_path_rate * i / max(n - 1, 1) for i in range(n)]
        self.stages = nn.ModuleList()
        prev, start = in_channels, 0
        for s, st in enumerate(arch.stages):
            rate = rates[start : start + st.depth]
            self.stages.append(SubnetStage(s, prev, st, rate, arch.stem, arch.conv_wp == "dense"))
            prev, start = st.width, start + st.depth
        self.decoder = MFAM(arch.decoder, arch.widths, num_classes)

    def forward_features(self, x: Tensor) -> list[Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.forward_features(x), (x.shape[-2], x.shape[-1]))

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, num_classes={self.num_classes}"


def materialize(net: nn.Module, arch: Arch, drop_path_rate: float | None = None) -> Subnet:
    """Standalone copy of ``arch`` inside supernet ``net`` (same device/dtype and train/eval mode).

    ``net(x, arch)`` and ``materialize(net, arch)(x)`` agree in eval mode.
    """
    state: dict[str, Tensor] = net.export_state(arch)
    rate = net.drop_path_rate if drop_path_rate is None else drop_path_rate
    model = Subnet(arch, net.in_channels, net.num_classes, drop_path_rate=rate)
    ref = next(net.parameters())
    model.to(device=ref.device, dtype=ref.dtype)
    model.load_state_dict(state, strict=True)
    return model.train(net.training)


def save_subnet(model: Subnet, directory: str | Path) -> Path:
    """Write ``arch.json``, ``weights.pt`` and ``meta.json`` (each atomically) into ``directory``."""
    from autonad_core.models.complexity import count_params

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": SUBNET_FORMAT,
        "version": SUBNET_FORMAT_VERSION,
        "in_channels": model.in_channels,
        "num_classes": model.num_classes,
        "drop_path_rate": model.drop_path_rate,
        "params": count_params(model.arch, model.in_channels, model.num_classes),
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_write_text(directory / ARCH_FILE, model.arch.to_json(indent=2))
    atomic_torch_save(state, directory / WEIGHTS_FILE)
    atomic_write_text(directory / META_FILE, json.dumps(meta, indent=2))
    return directory


def load_subnet(directory: str | Path, map_location: str | torch.device = "cpu") -> Subnet:
    """Rebuild a saved subnet (eval mode) from its directory; errors name the offending file."""
    directory = Path(directory)
    for name in (ARCH_FILE, WEIGHTS_FILE, META_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name}: missing (not a saved AutoNAD subnet?)")
    try:
        meta = json.loads((directory / META_FILE).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{directory / META_FILE}: not valid JSON: {exc}") from exc
    if meta.get("format") != SUBNET_FORMAT or meta.get("version") != SUBNET_FORMAT_VERSION:
        raise ValueError(
            f"{directory / META_FILE}: unsupported format {meta.get('format')!r} v{meta.get('version')!r}"
        )
    try:
        arch = Arch.from_json((directory / ARCH_FILE).read_text())
    except ArchValidationError as exc:
        raise ArchValidationError(f"{directory / ARCH_FILE}: {exc}") from exc
    model = Subnet(
        arch, int(meta["in_channels"]), int(meta["num_classes"]), float(meta.get("drop_path_rate", 0.0))
    )
    try:
        state = torch.load(directory / WEIGHTS_FILE, map_location=map_location, weights_only=True)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, OSError, ValueError) as exc:
        raise ValueError(
            f"{directory / WEIGHTS_FILE}: does not match {directory / ARCH_FILE}: {exc}"
        ) from exc
    return model.to(map_location).eval()
