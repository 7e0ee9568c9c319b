"""How well a cycle's detections match the simulator's ground truth (ROS-free): what the end-to-end
test asserts, the demo summary prints and the benchmark reports.

The predicted class mask of every capture (detections file -> content store) is compared with the
capture's label mask (the simulator's pixel-exact ground truth, stored with the capture), pooled over
all captures of the cycle (`platform_control.defect_scoring.score_views`): "defect IoU" = IoU of
any-defect vs any-defect pixels, per class pixel IoU, and per class object recall and precision.
"""

from __future__ import annotations

from typing import Any

from bladecell_ros.services.capture_store import CaptureStore
from platform_control.cycle.detections import DetectionsFile
from platform_control.defect_scoring import score_views


def cycle_scores(store: CaptureStore, detections: DetectionsFile) -> dict[str, Any]:
    """Scores over the cycle's labelled captures; raises ValueError if none is labelled."""
    views, classes = [], None
    for entry in detections.captures.values():
        stored = store.load(entry.capture_ref)
        if stored.label is None:
            continue
        classes = stored.label_classes
        predicted = store.files.read_image(entry.mask_path, entry.mask_sha256, grey=True)
        views.append((predicted, stored.label))
    if not views:
        raise ValueError(f"{detections.ref}: none of the cycle's captures has a ground-truth label")
    result = score_views(views, classes or ())
    result["captures"] = len(views)
    return result
