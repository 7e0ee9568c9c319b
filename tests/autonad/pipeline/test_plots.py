"""The report figures: the Pareto front is computed right and every plot writes a readable PNG."""

from __future__ import annotations

from pathlib import Path

import cv2

from autonad_core.plots import pareto_front, plot_class_iou, plot_pareto, plot_supernet_curves, running_mean


def test_pareto_front_keeps_only_undominated_points() -> None:
    points = [(5.0, 30.0), (3.0, 20.0), (4.0, 35.0), (6.0, 34.0), (3.0, 10.0), (8.0, 40.0)]
    assert pareto_front(points) == [1, 2, 5]  # (3,20) (4,35) (8,40); (5,30), (6,34), (3,10) dominated


def test_running_mean() -> None:
    assert running_mean([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert running_mean([2.0], 5) == [2.0]


def _is_png(path: Path) -> tuple[int, int]:
    image = cv2.imread(str(path))
    assert image is not None and image.std() > 0, path  # decodes and is not blank
    return image.shape[:2]


def test_plots_write_pngs(tmp_path: Path) -> None:
    candidates = [{"latency_ms": 1.0 + i, "miou": 0.2 + 0.03 * (i % 4)} for i in range(8)]
    plot_pareto(
        candidates, candidates[3], tmp_path / "p.png", [{"name": "U-Net", "latency_ms": 4, "miou": 0.3}]
    )
    history = [{"epoch": e, "loss": 1.0 / e, "step_losses": [1.0 / e, 0.9 / e]} for e in range(1, 5)]
    plot_supernet_curves({"cross": history, "classical": history[::-1]}, tmp_path / "c.png")
    ious = {
        "AutoNAD": {"background": 0.98, "crack": 0.2},
        "U-Net": {"background": 0.97, "crack": float("nan")},
    }
    plot_class_iou(ious, tmp_path / "b.png", {"AutoNAD": {"background": 0.01, "crack": 0.05}})
    for name in ("p.png", "c.png", "b.png"):
        h, w = _is_png(tmp_path / name)
        assert h > 300 and w > 500
