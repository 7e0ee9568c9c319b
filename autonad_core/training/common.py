"""Pieces shared by supernet training, search and retraining: data preparation, the search space from
the configuration, seeded loaders, learning-rate schedules and the loss."""

from __future__ import annotations

import functools
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from autonad_core.config import ConfigError, DesignConfig, LossConfig
from autonad_core.data import (
    IGNORE_INDEX,
    DatasetSpec,
    Preprocess,
    SegmentationDataset,
    open_dataset,
)
from autonad_core.training.distributed import DistContext


@dataclass
class PreparedData:
    spec: DatasetSpec
    preprocess: Preprocess
    train: SegmentationDataset
    val: SegmentationDataset


def prepare_data(
    cfg: DesignConfig, dataset_dir: Path, preprocess: Preprocess | None = None, need_train: bool = True
) -> PreparedData:
    """Open and validate the dataset; fit the preprocessing on the training split unless given."""
    folder = open_dataset(Path(dataset_dir))
    folder.check_disjoint_splits()
    d = cfg.data
    train_split = (
        folder.load_split(d.train_split, d.max_train_images) if need_train or preprocess is None else None
    )
    val_split = folder.load_split(d.val_split, d.max_val_images)
    if preprocess is None:
        preprocess = Preprocess.fit(train_split, d.input_size, d.mode, d.scale)
    elif tuple(preprocess.class_names) != tuple(folder.spec.classes) or tuple(preprocess.channels) != tuple(
        folder.spec.channels
    ):
        raise ValueError(
            f"{dataset_dir}: classes {list(folder.spec.classes)} / channels {list(folder.spec.channels)} "
            f"differ from the model's {list(preprocess.class_names)} / {list(preprocess.channels)}"
        )
    if train_split is not None and preprocess.mode == "crop":
        check_crop_fits(train_split.names, train_split.images, preprocess, Path(dataset_dir))
    train = (
        SegmentationDataset(
            train_split, preprocess, d.augment, cfg.seed, d.class_crop_prob, d.class_crop_pool
        )
        if train_split is not None
        else None
    )
    val = SegmentationDataset(val_split, preprocess, None, cfg.seed)
    return PreparedData(folder.spec, preprocess, train, val)


def check_crop_fits(
    names: Sequence[str], images: Sequence[np.ndarray], preprocess: Preprocess, dataset_dir: Path
) -> None:
    """`crop` mode trains on `data.input_size` crops of the rescaled images: a crop larger than an image
    would be mostly padding, so it is refused, naming the smallest image."""
    crop_h, crop_w = preprocess.input_size
    sizes = [(preprocess.geometry(image), name) for name, image in zip(names, images, strict=True)]
    too_small = [(hw, name) for hw, name in sizes if hw[0] < crop_h or hw[1] < crop_w]
    if too_small:
        (h, w), name = min(too_small, key=lambda item: item[0][0] * item[0][1])
        raise ConfigError(
            f"data.input_size {crop_h}x{crop_w} (the crop size in data.mode=crop) is larger than "
            f"{len(too_small)} training image(s) of {dataset_dir}, e.g. '{name}' ({h}x{w} after "
            f"data.scale {preprocess.scale[0]:g}); use a crop size of at most the smallest image, a larger "
            "data.scale, or data.mode=resize"
        )


def build_space(cfg: DesignConfig):
    """The SearchSpace the configuration names (paper Table I when no YAML is given)."""
    from autonad_core.models.search_space import SearchSpace

    if cfg.space.yaml is None:
        return SearchSpace()
    path = Path(cfg.space.yaml)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: search-space YAML (space.yaml) not found")
    return SearchSpace.from_yaml(path)


def copy_space_yaml(cfg: DesignConfig, out_dir: Path) -> None:
    if cfg.space.yaml is not None:
        shutil.copyfile(cfg.space.yaml, Path(out_dir) / "space.yaml")


def train_loader(
    dataset: SegmentationDataset,
    batch_size: int,
    seed: int,
    epoch: int,
    ctx: DistContext,
    num_workers: int = 0,
) -> DataLoader:
    """Shuffled loader whose order depends only on (seed, epoch) (and the rank under DDP)."""
    dataset.set_epoch(epoch)
    drop_last = len(dataset) // ctx.world_size >= batch_size
    if ctx.enabled:
        sampler = DistributedSampler(dataset, ctx.world_size, ctx.rank, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        return DataLoader(dataset, batch_size, sampler=sampler, num_workers=num_workers, drop_last=drop_last)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return DataLoader(
        dataset, batch_size, shuffle=True, generator=generator, num_workers=num_workers, drop_last=drop_last
    )


def steps_per_epoch(dataset_len: int, batch_size: int, world_size: int) -> int:
    per_rank = math.ceil(dataset_len / world_size)
    return per_rank // batch_size if per_rank >= batch_size else 1


def cosine_factor(step: int, total: int, lr: float, min_lr: float) -> float:
    """Multiplier of the base lr for cosine decay from lr to min_lr over `total` steps."""
    progress = min(step / max(total, 1), 1.0)
    floor = min_lr / lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def poly_factor(step: int, total: int, power: float) -> float:
    return (1 - min(step / max(total, 1), 1.0)) ** power


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def segmentation_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor | None = None,
    dice_weight: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy (optionally class-weighted) plus ``dice_weight`` x soft Dice over the classes.

    Shape: logits (B, K, H, W), target (B, H, W) with IGNORE_INDEX for unlabelled pixels.
    """
    logits = logits.float()
    if weights is not None:
        weights = weights.to(logits.device)
    loss = torch.nn.functional.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE_INDEX)
    if dice_weight > 0:
        valid = (target != IGNORE_INDEX).unsqueeze(1)
        probs = logits.softmax(dim=1) * valid
        onehot = torch.nn.functional.one_hot(target.clamp(0, logits.shape[1] - 1), logits.shape[1])
        onehot = onehot.permute(0, 3, 1, 2).to(probs.dtype) * valid
        inter = (probs * onehot).sum(dim=(0, 2, 3))
        denom = probs.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
        present = onehot.sum(dim=(0, 2, 3)) > 0
        dice = (2 * inter + 1.0) / (denom + 1.0)
        loss = loss + dice_weight * (1 - dice[present]).mean() if bool(present.any()) else loss
    return loss


def distillation_loss(logits: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """In-place distillation (sandwich rule): mean over labelled pixels of KL(teacher ‖ student).

    Shape: logits (B, K, H, W) of the student, teacher (B, K, H, W) probabilities (detached), target
    (B, H, W) only to skip IGNORE_INDEX pixels (padding, rotation corners)."""
    log_student = torch.log_softmax(logits.float(), dim=1)
    kl = (teacher * (torch.log(teacher.clamp_min(1e-8)) - log_student)).sum(dim=1)
    valid = target != IGNORE_INDEX
    return kl[valid].mean() if bool(valid.any()) else kl.sum() * 0.0


def _labelled_counts(mask: np.ndarray, num_classes: int) -> tuple[np.ndarray, int]:
    """(pixels of each class, labelled pixels) of one mask, IGNORE_INDEX left out."""
    labelled = mask[mask != IGNORE_INDEX]
    return np.bincount(labelled.ravel(), minlength=num_classes)[:num_classes], int(labelled.size)


def class_pixel_counts(masks: Sequence[np.ndarray], num_classes: int) -> np.ndarray:
    """Labelled pixels of each class over `masks` (IGNORE_INDEX left out). Shape: (num_classes,)."""
    pixels = np.zeros(num_classes, dtype=np.int64)
    for mask in masks:
        pixels += _labelled_counts(mask, num_classes)[0]
    return pixels


def median_frequency_weights(
    masks: Sequence[np.ndarray], num_classes: int, max_weight: float | None = None
) -> torch.Tensor:
    """Median-frequency balancing (Eigen & Fergus 2015): w_c = median(f) / f_c, where f_c is class c's
    pixel share over the images that contain c, capped at `max_weight` (a class of 0.1 % of the
    pixels would otherwise weigh hundreds of times the background and swamp the loss). Classes absent
    from the split get weight 1."""
    pixels = np.zeros(num_classes, dtype=np.float64)
    image_pixels = np.zeros(num_classes, dtype=np.float64)
    for mask in masks:
        counts, labelled = _labelled_counts(mask, num_classes)
        pixels += counts
        image_pixels[counts > 0] += labelled
    present = pixels > 0
    weights = np.ones(num_classes, dtype=np.float64)
    if present.any():
        freq = pixels[present] / image_pixels[present]
        weights[present] = np.median(freq) / freq
    if max_weight is not None:
        weights = np.minimum(weights, max_weight)
    return torch.tensor(weights, dtype=torch.float32)


def build_loss(cfg: LossConfig, data: PreparedData) -> LossFn:
    """The configured loss as a callable ``(logits, target) -> loss``."""
    num_classes = len(data.preprocess.class_names)
    if cfg.class_weights == "none":
        weights = None
    elif cfg.class_weights == "auto":
        weights = median_frequency_weights(data.train.masks, num_classes, cfg.max_class_weight)
    else:
        if len(cfg.class_weights) != num_classes:
            raise ConfigError(
                f"loss.class_weights has {len(cfg.class_weights)} entries, the dataset has {num_classes} "
                f"classes ({', '.join(data.preprocess.class_names)})"
            )
        weights = torch.tensor(cfg.class_weights, dtype=torch.float32)
    return functools.partial(segmentation_loss, weights=weights, dice_weight=cfg.dice_weight)


def apply_threads(cfg: DesignConfig) -> None:
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)


def use_amp(requested: bool, device: str) -> bool:
    return bool(requested) and torch.device(device).type == "cuda"
