"""How well a cycle's detections match the simulator's ground truth (ROS-free): the IoU the end-to-end
test asserts and the benchmark reports.

The predicted class mask of every capture (detections file -> content store) is compared with the
capture's label mask (the simulator's pixel-exact ground truth, stored with the capture), pooled over
all captures of the cycle: "defect IoU" = IoU of any-defect vs any-defect pixels, plus per class.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bladecell_ros.services.capture_store import CaptureStore
from platform_control.defect_regions import defect_iou


def cycle_iou(store: CaptureStore, detections_file: Path) -> dict[str, Any]:
    """IoU over the cycle's labelled captures; raises ValueError if none is labelled."""
    detections = json.loads(Path(detections_file).read_text())
    predicted, truth, classes = [], [], None
    for entry in detections["captures"].values():
        stored = store.load(entry["capture_ref"])
        if stored.label is None:
            continue
        classes = stored.label_classes
        predicted.append(store.files.read_image(entry["mask_path"], entry["mask_sha256"], grey=True).ravel())
        truth.append(stored.label.ravel())
    if not truth:
        raise ValueError(f"{detections_file}: none of the cycle's captures has a ground-truth label")
    result = defect_iou(np.concatenate(predicted), np.concatenate(truth), classes)
    result["captures"] = len(truth)
    return result
