"""Segmentation metrics from ONE confusion matrix accumulated over the whole evaluation set.

Convention (the paper's tables and the authors' code): mIoU and mF1 are the mean over ALL classes,
background included. Because defects are small and background IoU is always high, we also report the
mean over the defect classes only (every class except index 0). Pixels labelled IGNORE_INDEX (255) are
excluded. A class with no pixel in the ground truth and none predicted (TP+FP+FN = 0) has an undefined
IoU/F1 (NaN) and is left out of the means; a class predicted but absent from the ground truth scores 0.

    IoU_c = TP / (TP + FP + FN)        F1_c = 2TP / (2TP + FP + FN)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from autonad_core.data.spec import IGNORE_INDEX


class ConfusionMatrix:
    """Accumulates a (K, K) int64 matrix: rows = ground truth, columns = prediction."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    @torch.no_grad()
    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch. Shape: prediction and target (B, H, W) (or any equal shape) of class indices."""
        if prediction.shape != target.shape:
            raise ValueError(f"prediction shape {tuple(prediction.shape)} != target {tuple(target.shape)}")
        target = target.reshape(-1).to(torch.int64)
        prediction = prediction.reshape(-1).to(torch.int64)
        keep = target != self.ignore_index
        target, prediction = target[keep], prediction[keep]
        k = self.num_classes
        if target.numel() and (int(target.max()) >= k or int(target.min()) < 0):
            raise ValueError(
                f"target holds class indices outside 0..{k - 1}: {torch.unique(target).tolist()}"
            )
        if prediction.numel() and (int(prediction.max()) >= k or int(prediction.min()) < 0):
            raise ValueError(f"prediction holds class indices outside 0..{k - 1}")
        counts = torch.bincount(target * k + prediction, minlength=k * k)
        self.matrix += counts.reshape(k, k).cpu()

    def scores(self, class_names: tuple[str, ...] | list[str] | None = None) -> SegmentationScores:
        return scores_from_confusion(self.matrix.numpy(), class_names)


@dataclass
class SegmentationScores:
    """Fractions in [0, 1]. `miou`/`mf1`: all classes incl. background; `*_defect`: classes 1..K-1."""

    miou: float
    mf1: float
    miou_defect: float
    mf1_defect: float
    pixel_accuracy: float
    iou: dict[str, float] = field(default_factory=dict)
    f1: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def scores_from_confusion(
    matrix: np.ndarray, class_names: tuple[str, ...] | list[str] | None = None
) -> SegmentationScores:
    """IoU/F1 per class and their means from a (K, K) confusion matrix (rows = ground truth)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {matrix.shape}")
    k = matrix.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} class names for a {k}-class matrix")
    tp = np.diag(matrix)
    fp = matrix.sum(0) - tp
    fn = matrix.sum(1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)
        f1 = np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    total = matrix.sum()
    return SegmentationScores(
        miou=_nanmean(iou),
        mf1=_nanmean(f1),
        miou_defect=_nanmean(iou[1:]),
        mf1_defect=_nanmean(f1[1:]),
        pixel_accuracy=float(tp.sum() / total) if total else float("nan"),
        iou={n: float(v) for n, v in zip(names, iou, strict=True)},
        f1={n: float(v) for n, v in zip(names, f1, strict=True)},
    )


def format_class_iou(iou: dict[str, float]) -> str:
    """'background 98.1  blowhole 12.3  ...' (percent; '-' for a class absent from truth and
    prediction): the per-class line printed beside mIoU/mF1 by `autonad evaluate` and the benchmarks."""
    return "  ".join(f"{name} {'-' if np.isnan(v) else f'{100 * v:.1f}'}" for name, v in iou.items())
