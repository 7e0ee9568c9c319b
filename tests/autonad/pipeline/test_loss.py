"""The configurable training loss: class weights (median-frequency balancing) and the soft-Dice term."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from autonad_core.config import ConfigError, LossConfig, load_config
from autonad_core.data import IGNORE_INDEX
from autonad_core.training.common import build_loss, median_frequency_weights, segmentation_loss


def test_median_frequency_weights_by_hand() -> None:
    # image A: 12 px background, 4 px class 1; image B: 14 px background, 2 px class 2 (16 px each)
    a = np.zeros((4, 4), np.uint8)
    a[0] = 1
    b = np.zeros((4, 4), np.uint8)
    b[0, :2] = 2
    weights = median_frequency_weights([a, b], num_classes=4)
    f0, f1, f2 = 26 / 32, 4 / 16, 2 / 16
    median = np.median([f0, f1, f2])
    assert weights.tolist() == pytest.approx([median / f0, median / f1, median / f2, 1.0])
    assert weights[2] > weights[1] > weights[0]


def test_ignored_pixels_do_not_count() -> None:
    mask = np.full((4, 4), IGNORE_INDEX, np.uint8)
    mask[0, 0] = 1
    mask[1, :] = 0
    weights = median_frequency_weights([mask], num_classes=2)
    # labelled pixels: 4 background + 1 defect in one image of 5 labelled pixels
    assert weights.tolist() == pytest.approx([np.median([0.8, 0.2]) / 0.8, np.median([0.8, 0.2]) / 0.2])


def test_weighted_cross_entropy_matches_manual_formula() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5, 5)
    target = torch.randint(0, 3, (2, 5, 5))
    target[0, 0, 0] = IGNORE_INDEX
    weights = torch.tensor([0.2, 1.0, 3.0])
    log_p = logits.log_softmax(dim=1)
    valid = target != IGNORE_INDEX
    t = target.clamp(0, 2)
    picked = log_p.gather(1, t.unsqueeze(1)).squeeze(1)
    w = weights[t]
    manual = -(picked * w)[valid].sum() / w[valid].sum()
    assert segmentation_loss(logits, target, weights).item() == pytest.approx(manual.item(), rel=1e-6)
    assert segmentation_loss(logits, target).item() != pytest.approx(manual.item(), rel=1e-3)


def test_dice_term_is_zero_for_a_perfect_prediction_and_grows_when_wrong() -> None:
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[0, 2:4, 2:4] = 1
    perfect = torch.nn.functional.one_hot(target, 2).permute(0, 3, 1, 2).float() * 40.0
    plain = segmentation_loss(perfect, target)
    with_dice = segmentation_loss(perfect, target, dice_weight=1.0)
    assert with_dice.item() == pytest.approx(plain.item(), abs=1e-6)
    wrong = perfect.flip(1)
    assert segmentation_loss(wrong, target, dice_weight=1.0) > segmentation_loss(wrong, target) + 0.9


def _fake_data(masks: list[np.ndarray], classes: tuple[str, ...]) -> SimpleNamespace:
    return SimpleNamespace(
        train=SimpleNamespace(masks=masks), preprocess=SimpleNamespace(class_names=classes)
    )


def test_build_loss_checks_explicit_weights_against_the_classes() -> None:
    data = _fake_data([np.zeros((2, 2), np.uint8)], ("background", "crack"))
    with pytest.raises(ConfigError, match="3 entries, the dataset has 2 classes"):
        build_loss(LossConfig(class_weights=[1.0, 2.0, 3.0]), data)
    loss = build_loss(LossConfig(class_weights=[1.0, 2.0]), data)
    assert loss.keywords["weights"].tolist() == [1.0, 2.0]


def test_paper_preset_keeps_plain_cross_entropy_and_bad_values_are_refused() -> None:
    cfg = load_config("paper")
    assert cfg.loss.class_weights == "none" and cfg.loss.dice_weight == 0.0
    with pytest.raises(ConfigError):
        load_config("cpu-small", overrides=["loss.class_weights=[-1, 2]"])
    assert load_config("cpu-small", overrides=["loss.class_weights=auto"]).loss.class_weights == "auto"


def test_in_place_distillation_loss() -> None:
    """KL(teacher ‖ student) over labelled pixels: 0 for a student equal to the teacher, the hand value
    for a known pair, and pixels labelled IGNORE_INDEX do not count."""
    from autonad_core.training.common import distillation_loss

    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5)
    target = torch.zeros(2, 4, 5, dtype=torch.long)
    teacher = logits.softmax(1)
    assert float(distillation_loss(logits, teacher, target)) == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(1, 2, 1, 2, requires_grad=True)  # uniform prediction over 2 classes
    teacher = torch.tensor([[0.9, 0.1], [0.5, 0.5]]).T.reshape(1, 2, 1, 2)
    kl = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    both = distillation_loss(student, teacher, torch.zeros(1, 1, 2, dtype=torch.long))
    assert float(both.detach()) == pytest.approx(kl / 2, rel=1e-5)
    first_only = torch.tensor([[[0, IGNORE_INDEX]]])
    assert float(distillation_loss(student, teacher, first_only).detach()) == pytest.approx(kl, rel=1e-5)
    both.backward()
    assert student.grad is not None and float(student.grad.abs().sum()) > 0
