"""How well a cycle's detections match the simulator's ground truth (ROS-free): the IoU the end-to-end
test asserts and the benchmark reports.

The predicted class mask of every capture (detections file -> content store) is compared with the
capture's label mask (the simulator's pixel-exact ground truth, stored with the capture), pooled over
all captures of the cycle: "defect IoU" = IoU of any-defect vs any-defect pixels, plus per class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bladecell_ros.services.capture_store import CaptureStore
from platform_control.cycle.detections import DetectionsFile
from platform_control.defect_regions import defect_iou


def cycle_iou(store: CaptureStore, detections: DetectionsFile) -> dict[str, Any]:
    """IoU over the cycle's labelled captures; raises ValueError if none is labelled."""
    predicted, truth, classes = [], [], None
    for entry in detections.captures.values():
        stored = store.load(entry.capture_ref)
        if stored.label is None:
            continue
        classes = stored.label_classes
        predicted.append(store.files.read_image(entry.mask_path, entry.mask_sha256, grey=True).ravel())
        truth.append(stored.label.ravel())
    if not truth:
        raise ValueError(f"{detections.ref}: none of the cycle's captures has a ground-truth label")
    result = defect_iou(np.concatenate(predicted), np.concatenate(truth), classes)
    result["captures"] = len(truth)
    return result
