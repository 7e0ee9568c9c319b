"""Honest detection scores against ground truth: per class pixel IoU and object recall / precision.

Pixel IoU alone hides the defects an inspection exists for: a crack is a few hundred pixels among
millions, so a network that finds every burn and no crack still scores a high "defect IoU". The
object scores count defects instead: in each view, every 8-connected region of one class in the
ground truth is a true defect and is *found* when a predicted region of the same class overlaps it by at
least one pixel; every predicted region is *correct* when it overlaps a true region of its class.
recall = found / true defects, precision = correct / predicted regions, per class, pooled over all
views (a defect seen in three views counts three times: each view is one detection problem). Pixel
IoU is `defect_iou` over the same pooled pixels. Pure numpy + OpenCV.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import numpy as np

from platform_control.defect_regions import BACKGROUND, IGNORE_INDEX


def defect_iou(predicted: np.ndarray, truth: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """Overlap of a predicted and a ground-truth class mask (same shape; ignore_index pixels skipped).

    Returns {"defect_iou": IoU of "any defect" vs "any defect", "per_class": {name: IoU or None when the
    class is in neither mask}, "predicted_pixels", "true_pixels"}. Masks may also be stacks (N, H, W).
    """
    predicted = np.asarray(predicted)
    truth = np.asarray(truth)
    if predicted.shape != truth.shape:
        raise ValueError(f"predicted mask {predicted.shape} and ground truth {truth.shape} differ in shape")
    valid = truth != IGNORE_INDEX
    pred_defect = (predicted != BACKGROUND) & valid
    true_defect = (truth != BACKGROUND) & valid
    union = int(np.count_nonzero(pred_defect | true_defect))
    inter = int(np.count_nonzero(pred_defect & true_defect))
    per_class: dict[str, float | None] = {}
    for k, name in enumerate(class_names):
        if k == BACKGROUND:
            continue
        p, t = (predicted == k) & valid, (truth == k) & valid
        u = int(np.count_nonzero(p | t))
        per_class[str(name)] = None if u == 0 else int(np.count_nonzero(p & t)) / u
    return {
        "defect_iou": (inter / union) if union else None,
        "per_class": per_class,
        "predicted_pixels": int(np.count_nonzero(pred_defect)),
        "true_pixels": int(np.count_nonzero(true_defect)),
    }


def _regions(binary: np.ndarray) -> tuple[int, np.ndarray]:
    count, labels = cv2.connectedComponents(binary.astype(np.uint8), connectivity=8)
    return count - 1, labels


def _overlapping(labels: np.ndarray, other: np.ndarray) -> int:
    """How many of `labels`' regions (1..n) share at least one pixel with the `other` mask."""
    return int(np.unique(labels[other & (labels > 0)]).size)


def score_views(views: Iterable[tuple[np.ndarray, np.ndarray]], class_names: Sequence[str]) -> dict[str, Any]:
    """Scores of (predicted, truth) class-mask pairs, each (H, W), of one or more views.

    Returns `defect_iou`'s keys (``defect_iou``, ``per_class`` pixel IoU, pixel counts) plus
    ``objects``: {class: {"true", "found", "recall", "predicted", "correct", "precision"}} (recall /
    precision None when there is nothing to count) and ``views``. Ground-truth pixels marked
    ``IGNORE_INDEX`` are left out of both scores.
    """
    counts = {
        str(name): {"true": 0, "found": 0, "predicted": 0, "correct": 0}
        for k, name in enumerate(class_names)
        if k != BACKGROUND
    }
    predicted_all, truth_all = [], []
    for predicted, truth in views:
        predicted, truth = np.asarray(predicted), np.asarray(truth)
        if predicted.shape != truth.shape or predicted.ndim != 2:
            raise ValueError(
                f"predicted mask {predicted.shape} and ground truth {truth.shape} must be one (H, W) shape"
            )
        valid = truth != IGNORE_INDEX
        predicted_all.append(predicted.ravel())
        truth_all.append(truth.ravel())
        for k, name in enumerate(class_names):
            if k == BACKGROUND:
                continue
            p, t = (predicted == k) & valid, (truth == k) & valid
            n_true, true_labels = _regions(t)
            n_pred, pred_labels = _regions(p)
            c = counts[str(name)]
            c["true"] += n_true
            c["predicted"] += n_pred
            c["found"] += _overlapping(true_labels, p)
            c["correct"] += _overlapping(pred_labels, t)
    if not truth_all:
        raise ValueError("no views to score")
    result = defect_iou(np.concatenate(predicted_all), np.concatenate(truth_all), class_names)
    result["objects"] = {
        name: {
            **c,
            "recall": c["found"] / c["true"] if c["true"] else None,
            "precision": c["correct"] / c["predicted"] if c["predicted"] else None,
        }
        for name, c in counts.items()
    }
    result["views"] = len(truth_all)
    return result


def format_scores(scores: dict[str, Any]) -> str:
    """One line per class with truth in it: "crack IoU 0.41 recall 5/6 precision 5/7" (for summaries)."""
    lines = []
    for name, c in scores["objects"].items():
        iou = scores["per_class"].get(name)
        if c["true"] == 0 and c["predicted"] == 0:
            continue
        lines.append(
            f"{name} IoU {'-' if iou is None else f'{iou:.2f}'} recall {c['found']}/{c['true']} "
            f"precision {c['correct']}/{c['predicted']}"
        )
    return "; ".join(lines)
