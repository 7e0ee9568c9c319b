"""Class mask -> defect records: what the detector hands to the recorder for one capture.

A segmentation network gives a class index per pixel (and class probabilities). A quality record
needs *defects*: one entry per connected region of one class with its pixel area, physical size in
mm², bounding box, outer contour, a confidence, and where on the blade it is. `extract_defects` does
that split; `ViewGeometry` turns pixels into millimetres and blade coordinates.

Physical model (documented because every number in the records depends on it):
* Pinhole camera with the principal point at the frame centre. A frame that is a centred crop of the
  sensor, binned down (the simulator's 1024 x 1024 frames of the 2448 x 2048 sensor), keeps the
  sensor's field of view per pixel row: ``ViewGeometry.for_frame`` derives the frame's focal length.
* The scan puts every viewpoint's surface point on the focus plane facing the camera, so the imaged
  surface is taken to lie on the plane ``distance_m`` in front of the camera, fronto-parallel.
  One pixel then covers ``(distance_m / focal_px)²`` m² and a region's area is its pixel count times
  that. Surfaces tilted by θ are under-estimated by cos θ (≤ 50 % at the planner's 60° limit; near 0
  at the view centre where defects are usually framed).
* A region's location is its pixel centroid's viewing ray intersected with that plane, mapped into the
  blade frame by ``blade_from_camera`` (camera optical frame -> blade frame, from the stage pose).

Confidence of a region: the mean probability of its class over its pixels (1.0 when no probabilities
are given: a hand-drawn mask is taken as certain). Regions smaller than ``min_pixels`` are dropped as
speckle. Pure numpy + OpenCV; no model code here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

BACKGROUND = 0
IGNORE_INDEX = 255
MAX_CONTOUR_POINTS = 64


@dataclass(frozen=True)
class ViewGeometry:
    """How one frame maps to the blade: intrinsics, imaging distance and the camera pose in the blade.

    ``blade_from_camera``: 4x4, camera optical frame (z along the view, x right, y down) -> blade frame;
    None when the stage pose is unknown (then regions get no location).
    """

    focal_px: float
    cx: float
    cy: float
    distance_m: float
    blade_from_camera: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.focal_px > 0:
            raise ValueError(f"ViewGeometry.focal_px must be positive, got {self.focal_px}")
        if not self.distance_m > 0:
            raise ValueError(f"ViewGeometry.distance_m must be positive, got {self.distance_m}")
        if self.blade_from_camera is not None:
            pose = np.asarray(self.blade_from_camera, dtype=float)
            if pose.shape != (4, 4):
                raise ValueError(f"ViewGeometry.blade_from_camera must be 4x4, got {pose.shape}")
            object.__setattr__(self, "blade_from_camera", pose)

    @classmethod
    def for_frame(
        cls,
        width: int,
        height: int,
        *,
        sensor_width_px: int,
        sensor_height_px: int,
        sensor_focal_px: float,
        distance_m: float,
        blade_from_camera: np.ndarray | None = None,
    ) -> ViewGeometry:
        """Geometry of a ``width`` x ``height`` frame that is the sensor's centred crop of the same
        aspect ratio, binned down (or the full sensor when the sizes match)."""
        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        crop_h = min(sensor_height_px, sensor_width_px * height / width)
        binning = crop_h / height
        return cls(sensor_focal_px / binning, width / 2.0, height / 2.0, distance_m, blade_from_camera)

    @property
    def pixel_size_m(self) -> float:
        """Side of one pixel's footprint on the imaged plane (m)."""
        return self.distance_m / self.focal_px

    @property
    def pixel_area_mm2(self) -> float:
        return (self.pixel_size_m * 1e3) ** 2

    def pixels_to_camera(self, uv: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N, 2) -> points (N, 3) on the imaged plane, camera optical frame (m)."""
        uv = np.atleast_2d(np.asarray(uv, dtype=float))
        xy = (uv - (self.cx, self.cy)) * self.pixel_size_m
        return np.column_stack([xy, np.full(len(uv), self.distance_m)])

    def pixels_to_blade(self, uv: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N, 2) -> blade-frame points (N, 3) (m); needs ``blade_from_camera``."""
        if self.blade_from_camera is None:
            raise ValueError("ViewGeometry has no blade_from_camera pose; cannot locate pixels on the blade")
        pts = self.pixels_to_camera(uv)
        pose = self.blade_from_camera
        return pts @ pose[:3, :3].T + pose[:3, 3]


@dataclass(frozen=True, eq=False)
class DefectRegion:
    """One connected region of one defect class.

    Shape: contour (K, 2) int pixel coordinates (x, y) of the outer boundary; bbox (x, y, w, h);
    centroid_px (x, y); location_m (3,) blade frame or None.
    """

    class_index: int
    defect_class: str
    confidence: float
    pixel_area: int
    area_mm2: float
    bbox: tuple[int, int, int, int]
    contour: np.ndarray
    centroid_px: tuple[float, float]
    location_m: np.ndarray | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record (location in millimetres, as the database stores it)."""
        return {
            "class_index": self.class_index,
            "defect_class": self.defect_class,
            "confidence": round(float(self.confidence), 6),
            "pixel_area": int(self.pixel_area),
            "area_mm2": round(float(self.area_mm2), 6),
            "bbox": [int(v) for v in self.bbox],
            "contour": self.contour.astype(int).tolist(),
            "centroid_px": [round(float(v), 3) for v in self.centroid_px],
            "location_mm": None
            if self.location_m is None
            else [round(float(v) * 1e3, 4) for v in self.location_m],
        }


def _check_mask(mask: np.ndarray, class_names: Sequence[str], ignore_index: int) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"class mask must be 2-D (H, W), got shape {mask.shape}")
    if not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"class mask must hold integer class indices, got dtype {mask.dtype}")
    values = np.unique(mask)
    bad = [int(v) for v in values if v != ignore_index and not 0 <= v < len(class_names)]
    if bad:
        raise ValueError(
            f"class mask holds index(es) {bad} outside the {len(class_names)} classes {list(class_names)}"
        )
    return mask


def _simplify(contour: np.ndarray) -> np.ndarray:
    """At most MAX_CONTOUR_POINTS points, by Douglas-Peucker with a growing tolerance."""
    eps = 0.5
    out = contour
    while len(out) > MAX_CONTOUR_POINTS:
        out = cv2.approxPolyDP(contour, eps, True)
        eps *= 1.6
    return out.reshape(-1, 2)


def extract_defects(
    mask: np.ndarray,
    class_names: Sequence[str],
    probabilities: np.ndarray | None = None,
    view: ViewGeometry | None = None,
    *,
    min_pixels: int = 4,
    background: int = BACKGROUND,
    ignore_index: int = IGNORE_INDEX,
) -> list[DefectRegion]:
    """Split a class-index mask (H, W) into defect regions (8-connected, per class).

    ``probabilities`` (K, H, W), K = len(class_names), gives each region's confidence. ``view`` gives
    physical areas and blade locations; without it area_mm2 is 0 and location None. Regions are
    ordered by class, then by descending area.
    """
    mask = _check_mask(mask, class_names, ignore_index)
    if min_pixels < 1:
        raise ValueError(f"min_pixels must be >= 1, got {min_pixels}")
    if probabilities is not None:
        probabilities = np.asarray(probabilities)
        if probabilities.shape != (len(class_names), *mask.shape):
            raise ValueError(
                f"probabilities have shape {probabilities.shape}, expected "
                f"({len(class_names)}, {mask.shape[0]}, {mask.shape[1]})"
            )
    regions: list[DefectRegion] = []
    for k in np.unique(mask):
        k = int(k)
        if k in (background, ignore_index):
            continue
        binary = (mask == k).astype(np.uint8)
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
        found = []
        for i in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[i])
            if area < min_pixels:
                continue
            crop = labels[y : y + h, x : x + w] == i
            contours, _ = cv2.findContours(crop.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            outline = np.add(max(contours, key=len).reshape(-1, 2), (x, y))
            if probabilities is not None:
                confidence = float(probabilities[k, y : y + h, x : x + w][crop].mean())
            else:
                confidence = 1.0
            cx, cy = (float(v) for v in centroids[i])
            location = None
            area_mm2 = 0.0
            if view is not None:
                area_mm2 = area * view.pixel_area_mm2
                if view.blade_from_camera is not None:
                    # pixel centres sit at +0.5 (OpenCV centroids are in pixel-index coordinates)
                    location = view.pixels_to_blade(np.array([[cx + 0.5, cy + 0.5]]))[0]
            found.append(
                DefectRegion(
                    class_index=k,
                    defect_class=str(class_names[k]),
                    confidence=min(max(confidence, 0.0), 1.0),
                    pixel_area=area,
                    area_mm2=area_mm2,
                    bbox=(x, y, w, h),
                    contour=_simplify(outline.reshape(-1, 1, 2).astype(np.int32)),
                    centroid_px=(cx, cy),
                    location_m=location,
                )
            )
        regions += sorted(found, key=lambda r: -r.pixel_area)
    return regions


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
