"""Metric values on hand-computed confusion matrices (AUTONAD.md §7: one matrix over the whole set)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from autonad_core.metrics import ConfusionMatrix, scores_from_confusion

# rows = ground truth, columns = prediction
M = np.array([[50, 2, 3], [4, 10, 1], [0, 5, 25]])
# TP = 50, 10, 25; FP = 4, 7, 4; FN = 5, 5, 5
IOU = [50 / 59, 10 / 22, 25 / 34]
F1 = [100 / 109, 20 / 32, 50 / 59]


def test_scores_from_hand_computed_matrix() -> None:
    s = scores_from_confusion(M, ["bg", "a", "b"])
    assert s.iou == pytest.approx(dict(zip(["bg", "a", "b"], IOU, strict=True)))
    assert s.f1 == pytest.approx(dict(zip(["bg", "a", "b"], F1, strict=True)))
    assert s.miou == pytest.approx(sum(IOU) / 3)
    assert s.mf1 == pytest.approx(sum(F1) / 3)
    assert s.miou_defect == pytest.approx((IOU[1] + IOU[2]) / 2)
    assert s.mf1_defect == pytest.approx((F1[1] + F1[2]) / 2)
    assert s.pixel_accuracy == pytest.approx(85 / 100)


def test_absent_class_is_left_out_but_false_positives_count() -> None:
    # class 2 neither in ground truth nor predicted -> NaN, excluded; class 3 only predicted -> IoU 0.
    m = np.array([[8, 0, 0, 2], [1, 4, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    s = scores_from_confusion(m)
    assert math.isnan(s.iou["2"]) and math.isnan(s.f1["2"])
    assert s.iou["3"] == 0.0
    iou0, iou1 = 8 / (8 + 1 + 2), 4 / (4 + 1)
    assert s.miou == pytest.approx((iou0 + iou1 + 0.0) / 3)
    assert s.miou_defect == pytest.approx((iou1 + 0.0) / 2)


def test_accumulates_one_matrix_over_batches_and_ignores_255() -> None:
    cm = ConfusionMatrix(3)
    target = torch.tensor([[[0, 0, 1, 255], [2, 2, 1, 0]]])
    pred = torch.tensor([[[0, 1, 1, 2], [2, 0, 1, 0]]])
    cm.update(pred, target)
    cm.update(torch.tensor([[[2]]]), torch.tensor([[[2]]]))
    expected = np.array([[2, 1, 0], [0, 2, 0], [1, 0, 2]])  # the 255 pixel (pred 2) is not counted
    assert cm.matrix.numpy().tolist() == expected.tolist()
    # pooled matrix, not a mean of per-batch scores
    assert cm.scores().miou == pytest.approx(scores_from_confusion(expected).miou)


def test_all_background_predictor_values() -> None:
    target = torch.tensor([[0, 0, 0, 1], [0, 0, 2, 2]])
    cm = ConfusionMatrix(3)
    cm.update(torch.zeros_like(target), target)
    s = cm.scores()
    assert s.iou["0"] == pytest.approx(5 / 8)
    assert s.iou["1"] == 0.0 and s.iou["2"] == 0.0
    assert s.miou == pytest.approx(5 / 24)
    assert s.miou_defect == 0.0
    assert s.mf1 == pytest.approx((2 * 5 / (2 * 5 + 3)) / 3)


def test_bad_inputs_are_rejected() -> None:
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="shape"):
        cm.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="outside"):
        cm.update(torch.zeros(1, 2), torch.tensor([[0, 3]]))
    with pytest.raises(ValueError, match="square"):
        scores_from_confusion(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionMatrix(1)


def test_per_class_iou_line_names_every_class() -> None:
    from autonad_core.metrics import format_class_iou

    line = format_class_iou({"background": 0.981, "crack": 0.1234, "nick": float("nan")})
    assert line == "background 98.1  crack 12.3  nick -"
