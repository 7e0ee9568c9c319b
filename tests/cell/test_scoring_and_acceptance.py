"""Honest scoring (pixel IoU and object recall / precision per class) and the acceptance verdict on
the simulator's exact ground truth through the real rules."""

from __future__ import annotations

import numpy as np
import pytest

from platform_control.cycle.acceptance import AcceptanceRules, judge
from platform_control.defect_regions import extract_defects, merge_views
from platform_control.defect_scoring import format_scores, score_views

CLASSES = ("background", "crack", "nick", "dent")


def test_object_recall_and_precision_count_defects_not_pixels() -> None:
    truth = np.zeros((40, 60), np.uint8)
    truth[5, 5:45] = 1  # crack A: 40 px
    truth[20, 5:25] = 1  # crack B: 20 px, missed
    truth[30:36, 40:46] = 2  # nick: 36 px
    predicted = np.zeros_like(truth)
    predicted[5, 30:31] = 1  # 1 px of crack A: found
    predicted[12, 50:55] = 1  # a false crack
    predicted[30:36, 40:46] = 3  # the nick called a dent: no nick found, a false dent
    second_truth = np.zeros_like(truth)  # a second view: one dent, found exactly
    second_truth[10:14, 10:14] = 3
    scores = score_views([(predicted, truth), (second_truth.copy(), second_truth)], CLASSES)
    crack, nick, dent = (scores["objects"][c] for c in ("crack", "nick", "dent"))
    assert (crack["true"], crack["found"], crack["predicted"], crack["correct"]) == (2, 1, 2, 1)
    assert crack["recall"] == 0.5 and crack["precision"] == 0.5
    assert nick["recall"] == 0.0 and nick["precision"] is None  # nothing predicted as a nick
    assert (dent["true"], dent["found"], dent["predicted"], dent["correct"]) == (1, 1, 2, 1)
    assert scores["per_class"]["crack"] == pytest.approx(1 / 65)  # 1 px shared of 60 + 5
    assert scores["per_class"]["dent"] == pytest.approx(16 / (36 + 16))
    assert scores["views"] == 2
    assert format_scores(scores).startswith("crack IoU 0.02 recall 1/2 precision 1/2; nick IoU 0.00")
    ignored = truth.copy()
    ignored[20, 5:25] = 255  # labelled "ignore": neither a defect to find nor a pixel to score
    assert score_views([(predicted, ignored)], CLASSES)["objects"]["crack"]["true"] == 1
    with pytest.raises(ValueError, match="must be one"):
        score_views([(predicted, truth[:10])], CLASSES)
    with pytest.raises(ValueError, match="no views"):
        score_views([], CLASSES)


def _crack_blade_views(tilts_deg: tuple[float, ...]):
    """A simulated blade with one crack, imaged at the camera's sensor binned 2 x 2 head-on and
    tilted: (defect, [(mask, view geometry), ...])."""
    import platform_control.sim  # noqa: F401  (offscreen GL back-end)
    from platform_control.blade import blade_preset, generate_blade, label_mask
    from platform_control.sim.defect_views import defect_views
    from platform_control.sim.placement import BladeSurface, sample_defects

    mesh = generate_blade(blade_preset("small"), seed=3)
    (crack,) = sample_defects(
        BladeSurface(mesh, label_mask(mesh, ["airfoil"])),
        np.random.default_rng(4),
        count=1,
        classes=("crack",),
    )
    return crack, defect_views(mesh, crack, tilts_deg, binning=2)


def test_a_blade_with_a_crack_above_the_reject_size_is_rejected_on_its_exact_masks() -> None:
    classes = ("background", "crack", "nick", "dent", "pitting", "coating_loss", "burn")
    crack, views = _crack_blade_views((0.0, 25.0))
    assert views[0][0].shape == (1024, 1224)
    records = []
    for i, (mask, geometry) in enumerate(views):
        records += [
            {**r.to_dict(), "viewpoint_index": i} for r in extract_defects(mask, classes, view=geometry)
        ]
    cracks = [r for r in records if r["defect_class"] == "crack"]
    assert len(cracks) >= 2  # seen in both views
    merged = merge_views(records)
    (one,) = [r for r in merged if r["defect_class"] == "crack"]  # the two sightings are one defect
    assert one["viewpoints"] == [0, 1]
    nominal = crack.params["length_m"] * crack.params["width_m"] * 1e6
    assert one["area_mm2"] == pytest.approx(nominal, rel=0.4)
    # the plant's rules (any crack rejects) and a crack limit just under its measured size reject...
    verdict = judge(merged, AcceptanceRules())
    assert verdict.reject and any(reason.startswith("crack") for reason in verdict.reasons)
    below = AcceptanceRules(
        reject_area_mm2={**AcceptanceRules().reject_area_mm2, "crack": 0.9 * one["area_mm2"]}
    )
    assert judge(merged, below).reject
    # ... a limit above it passes the blade (nothing else is on it)
    above = AcceptanceRules(
        reject_area_mm2={**AcceptanceRules().reject_area_mm2, "crack": 1.1 * one["area_mm2"]}
    )
    assert not judge(merged, above).reject
