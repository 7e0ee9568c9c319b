"""Typed configuration of the AutoNAD pipeline, loaded from YAML: a preset (`paper`, `cpu-small`; files
in autonad_core/configs/presets/), then the user's YAML file, then `key.sub=value` overrides, each
deep-merged over the previous one. Unknown keys are errors that name the key."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from autonad_core.data.augment import AugmentConfig

PRESET_DIR = Path(__file__).parent / "configs" / "presets"
Sharing = Literal["cross", "entangled", "classical"]


class ConfigError(ValueError):
    """A configuration file, preset or override is invalid; the message names it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    input_size: tuple[int, int] = (320, 320)
    """Network input (H, W): the resize target (`resize` mode) or the crop size (`crop` mode)."""
    mode: Literal["resize", "crop"] = "resize"
    scale: float = Field(default=1.0, gt=0)
    """`crop` mode: rescale factor applied to every image before cropping / tiling."""
    class_crop_prob: float = Field(default=0.5, ge=0, le=1)
    """`crop` mode: probability that a training crop is centred on a pixel of a defect class (drawn
    uniformly from `class_crop_pool`), so thin, rare defects are seen; otherwise the crop is placed
    uniformly (data/crop_sampling.py)."""
    class_crop_pool: Literal["image", "dataset"] = "image"
    """Where that class is drawn from: `image` = the classes present in the item's image; `dataset` =
    the classes of the whole training split, then an image holding it, so a class seen in few images
    is centred on as often as a common one."""
    train_split: str = "train"
    val_split: str = "val"
    max_train_images: int | None = Field(default=None, ge=1)
    max_val_images: int | None = Field(default=None, ge=1)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    num_workers: int = Field(default=0, ge=0)


class SpaceConfig(_Strict):
    yaml: Path | None = None
    """SearchSpace YAML (model side's schema); None = the paper's Table I space. Relative paths are
    resolved against the YAML file that names them."""


class PriorConfig(_Strict):
    """The latency-aware prior: operator probabilities per block position from the latency table."""

    enabled: bool = True
    temperature: float = Field(default=1.0, gt=0)
    uniform_mix: float = Field(default=0.1, ge=0, le=1)


class SupernetConfig(_Strict):
    epochs: int = Field(default=3000, ge=1)
    batch_size: int = Field(default=8, ge=1)
    lr: float = Field(default=5e-4, gt=0)
    min_lr: float = Field(default=1e-6, ge=0)
    weight_decay: float = Field(default=0.05, ge=0)
    sharing: Sharing = "cross"
    sampling: Literal["uniform", "sandwich"] = "uniform"
    """Subnets per step: `uniform` = one sampled subnet (the paper); `sandwich` = the largest, the
    smallest and one random subnet (gradients summed), the largest trained on the labels and the two
    others distilled in place from its detached predictions (BigNAS / OFA), which is meant to make
    inherited weights rank subnets better at a small budget (benchmarks/autonad_rank.py measures it)."""
    distill_weight: float = Field(default=1.0, ge=0, le=1)
    """`sandwich`: loss of the smaller subnets = (1 - w)·task loss + w·KL(largest ‖ subnet)."""
    amp: bool = True
    """Mixed precision; used only on CUDA devices."""
    grad_clip: float | None = Field(default=5.0, gt=0)
    hold_unused_slices: bool = True
    """Entries of shared weights with zero gradient this step (slices the sampled subnet did not use)
    keep their value and AdamW state instead of drifting by weight decay and stale momentum
    (training/unused_slices.py). The `paper` preset turns it off (plain AdamW, as the authors)."""
    prior: PriorConfig = Field(default_factory=PriorConfig)


class SearchConfig(_Strict):
    population: int = Field(default=100, ge=2)
    generations: int = Field(default=50, ge=1)
    top_k: int = Field(default=10, ge=1)
    mutation_prob: float = Field(default=0.2, ge=0, le=1)
    crossover_prob: float = Field(default=0.4, ge=0, le=1)
    latency_weight: float | Literal["auto"] = "auto"
    """λ in score = 100·mIoU − λ·latency_ms; 'auto' = 5 / mean latency (ms) of the initial population
    (the authors' A = 5 / mean latency of random subnets)."""
    max_latency_ms: float | None = Field(default=None, gt=0)
    max_params: int | None = Field(default=None, ge=1)
    target_device: str | None = None
    """Device whose latency counts (the detector's hardware); None = DesignConfig.target_device, else
    the training device."""
    latency_input_size: tuple[int, int] | None = None
    """Input (H, W) of the latency table, batch 1; None = data.input_size."""
    latency_warmup: int = Field(default=2, ge=0)
    latency_repeats: int = Field(default=5, ge=1)
    """Warm-up runs and timed runs (median) per latency-table entry."""
    latency_table: Path | None = None
    """A latency table from another run (its `latency_table.json`) instead of measuring one; it must
    match this run's search space, device, input size, channels and classes."""
    use_prior: bool = True
    eval_batch_size: int = Field(default=8, ge=1)
    max_tries: int = Field(default=2000, ge=1)

    @field_validator("latency_weight")
    @classmethod
    def _weight(cls, value: float | str) -> float | str:
        if isinstance(value, float | int) and value < 0:
            raise ValueError("latency_weight must be >= 0 or 'auto'")
        return value


class RetrainConfig(_Strict):
    epochs: int = Field(default=500, ge=1)
    batch_size: int = Field(default=8, ge=1)
    lr: float = Field(default=1e-4, gt=0)
    poly_power: float = Field(default=0.9, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    inherit: bool = True
    """Start from the supernet's weights (the authors' fine-tuning) rather than from scratch."""
    drop_path: float = Field(default=0.1, ge=0, lt=1)
    """Stochastic-depth rate of the retrained subnet (linear 0 -> this over its blocks); 0.1 = the
    supernet's rate, what retraining used before this switch. Issue 14 suspected it slows a short
    retraining; measured on the tiny end-to-end design (40 MT 'uneven' images, 64x64, 40 epochs, one
    seed) 0 gave val mIoU 37.9 % against 40.5 % with 0.1, so 0.1 stays until MT says otherwise."""
    eval_every: int = Field(default=1, ge=1)
    amp: bool = True
    grad_clip: float | None = Field(default=5.0, gt=0)


class LossConfig(_Strict):
    """Training loss of both the supernet and the retraining stage.

    The paper trains with plain cross-entropy (`class_weights: none`, `dice_weight: 0`, the default).
    Defects that cover well under 1 % of the pixels (cracks, blowholes, a cell's first scanned blade)
    make small budgets sit at "all background"; `auto` class weights (median-frequency balancing over
    the training split) and a soft-Dice term counter that.
    """

    class_weights: Literal["none", "auto"] | list[float] = "none"
    max_class_weight: float | None = Field(default=None, gt=0)
    """Cap on each `auto` weight (None = uncapped): median-frequency weights of a class covering
    0.1 % of the pixels reach hundreds and swamp the loss, so e.g. 10 keeps them in check."""
    dice_weight: float = Field(default=0.0, ge=0)

    @field_validator("class_weights")
    @classmethod
    def _positive(cls, value: str | list[float]) -> str | list[float]:
        if isinstance(value, list) and (not value or min(value) < 0):
            raise ValueError("class_weights must be 'none', 'auto' or a list of non-negative numbers")
        return value


class ExportConfig(_Strict):
    torchscript: bool = True
    onnx: bool = True
    opset: int = Field(default=18, ge=11)
    tolerance: float = Field(default=1e-4, gt=0)


class DesignConfig(_Strict):
    seed: int = 0
    device: str = "auto"
    """Training device ('auto' = CUDA when available, else CPU)."""
    target_device: str | None = None
    """Default latency target for the prior and the search; None = the training device."""
    threads: int | None = Field(default=None, ge=1)
    """CPU threads for torch (torch.set_num_threads); None = torch's default. On a machine shared with
    other jobs 1 thread is often faster than oversubscribed OpenMP."""
    data: DataConfig = Field(default_factory=DataConfig)
    space: SpaceConfig = Field(default_factory=SpaceConfig)
    supernet: SupernetConfig = Field(default_factory=SupernetConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml") if not p.stem.startswith("space_"))


def deep_merge(base: dict, update: Mapping) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict:
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: configuration file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    space = raw.get("space")
    if isinstance(space, dict) and space.get("yaml") and not Path(space["yaml"]).is_absolute():
        space["yaml"] = str((Path(path).parent / space["yaml"]).resolve())
    return raw


def parse_overrides(items: Iterable[str]) -> dict:
    """['search.population=10', 'device=cpu'] -> nested dict (values parsed as YAML scalars/lists)."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key.sub=value")
        key, _, text = item.partition("=")
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(text)
    return out


def load_config(
    preset: str | None = None,
    config_path: Path | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
) -> DesignConfig:
    """Preset, then user YAML, then overrides (a nested mapping or 'a.b=value' strings)."""
    merged: dict = {}
    if preset is not None:
        path = PRESET_DIR / f"{preset}.yaml"
        if not path.is_file():
            raise ConfigError(f"unknown preset '{preset}' (available: {', '.join(preset_names())})")
        merged = _read_yaml(path)
    if config_path is not None:
        merged = deep_merge(merged, _read_yaml(Path(config_path)))
    if overrides:
        update = overrides if isinstance(overrides, Mapping) else parse_overrides(overrides)
        merged = deep_merge(merged, update)
    try:
        return DesignConfig.model_validate(merged)
    except ValidationError as exc:
        where = f"preset '{preset}'" if preset else "configuration"
        if config_path is not None:
            where += f" + {config_path}"
        raise ConfigError(f"invalid {where}:\n{exc}") from exc


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' when available else 'cpu'; anything else is checked to exist."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' requested but CUDA is not available on this machine")
    try:
        torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device '{name}'") from exc
    return name
