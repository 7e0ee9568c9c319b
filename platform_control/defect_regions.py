"""Class mask -> defect records: what the detector hands to the recorder for one capture.

A segmentation network gives a class index per pixel (and class probabilities). A quality record
needs *defects*: one entry per connected region of one class with its pixel area, physical size in
mm², bounding box, outer contour, a confidence, and where on the blade it is. `extract_defects` does
that split; `ViewGeometry` turns pixels into millimetres and blade coordinates; `merge_views` makes the
sightings of one defect from several viewpoints one record.

Physical model (documented because every number in the records depends on it):
* Pinhole camera with the principal point at the frame centre. A frame that is a centred crop of the
  sensor, binned down (the simulator's 1024 x 1024 frames of the 2448 x 2048 sensor), keeps the
  sensor's field of view per pixel row: ``ViewGeometry.for_frame`` derives the frame's focal length.
* With the blade's surface (``ViewGeometry.surface``: the part family's CAD mesh as a ray caster,
  ``MeshSurface``) and the camera pose in the blade frame, every pixel's viewing ray is intersected
  with the surface. A pixel (solid angle cos³α / f², α = the ray's angle to the optical axis) then
  covers ``R² cos³α / (f² cos θ)`` m², R = the range to the hit point and θ = the angle between the
  ray and the surface normal there (the incidence angle; cos θ is floored at cos 80° so a grazing
  pixel counts at most 5.8 times). A region's area is the sum over its pixels (a uniform sample of at
  most ``MAX_AREA_RAYS`` of them, scaled), and its location is where its centroid's ray meets the
  surface. Pixels whose ray misses the mesh (a prediction spilling past the blade's edge, or a part
  that deviates from its CAD model) use the plane model below. The mesh sits at its nominal pose in
  the fixture: a blade that differs from its CAD model or is clamped off-nominal gets the nominal
  surface's range and tilt (the simulator's next blades differ slightly in shape, too).
* Without a surface (no CAD model for the part family, no stage pose), the imaged surface is taken to
  lie on the focus plane ``distance_m`` in front of the camera, fronto-parallel: one pixel covers
  ``(distance_m / focal_px)²`` m². The scan puts each viewpoint's surface point on that plane facing
  the camera, so this is exact at the view centre and under-sizes a surface tilted by θ by cos θ
  (half the area at the coverage planner's 60° limit) and mislocates it along the ray by the depth
  offset. The capture itself carries no depth or normal, so the mesh is the only source of tilt.
* A region's location maps into the blade frame by ``blade_from_camera`` (camera optical frame ->
  blade frame, from the stage pose).

Confidence of a region: the mean probability of its class over its pixels (1.0 when no probabilities
are given: a hand-drawn mask is taken as certain). Regions smaller than ``min_pixels`` are dropped as
speckle. Pure numpy + OpenCV (`MeshSurface` calls the trimesh mesh it is given); no model code here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

BACKGROUND = 0
IGNORE_INDEX = 255
MAX_CONTOUR_POINTS = 64
MAX_AREA_RAYS = 1024  # rays cast per region for its area (a uniform sample of its pixels)
MIN_COS_INCIDENCE = float(np.cos(np.radians(80.0)))  # grazing pixels count at most 1 / cos 80°


class SurfaceRaycaster(Protocol):
    """The imaged part's surface in the blade frame (e.g. ``MeshSurface`` over the CAD mesh)."""

    def intersect(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rays (N, 3) origins and unit directions, blade frame -> range to the first hit (N,) (inf
        where a ray misses) and the unit surface normal there (N, 3)."""
        ...


class MeshSurface:
    """A triangle mesh (trimesh) as a `SurfaceRaycaster`; rays hit either side of a face."""

    def __init__(self, mesh: Any) -> None:
        self.mesh = mesh

    def intersect(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        origins = np.atleast_2d(np.asarray(origins, dtype=float))
        directions = np.atleast_2d(np.asarray(directions, dtype=float))
        ranges = np.full(len(origins), np.inf)
        normals = np.zeros((len(origins), 3))
        if len(origins):
            points, ray, tri = self.mesh.ray.intersects_location(origins, directions, multiple_hits=False)
            if len(ray):  # (trimesh gives points of shape (0,) when nothing is hit)
                points = np.asarray(points, dtype=float).reshape(-1, 3)
                ranges[ray] = np.einsum("ij,ij->i", points - origins[ray], directions[ray])
                normals[ray] = self.mesh.face_normals[tri]
        return ranges, normals


@dataclass(frozen=True)
class ViewGeometry:
    """How one frame maps to the blade: intrinsics, imaging distance and the camera pose in the blade.

    ``blade_from_camera``: 4x4, camera optical frame (z along the view, x right, y down) -> blade frame;
    None when the stage pose is unknown (then regions get no location). ``surface``: the blade's
    surface in the blade frame; with a pose it corrects areas for range and incidence angle (see the
    module docstring), without one the fronto-parallel plane at ``distance_m`` is used.
    """

    focal_px: float
    cx: float
    cy: float
    distance_m: float
    blade_from_camera: np.ndarray | None = None
    surface: SurfaceRaycaster | None = None

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
        surface: SurfaceRaycaster | None = None,
    ) -> ViewGeometry:
        """Geometry of a ``width`` x ``height`` frame that is the sensor's centred crop of the same
        aspect ratio, binned down (or the full sensor when the sizes match)."""
        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        crop_h = min(sensor_height_px, sensor_width_px * height / width)
        binning = crop_h / height
        return cls(
            sensor_focal_px / binning, width / 2.0, height / 2.0, distance_m, blade_from_camera, surface
        )

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

    @property
    def uses_surface(self) -> bool:
        return self.surface is not None and self.blade_from_camera is not None

    def _rays(self, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel coordinates (N, 2) -> unit rays in the camera frame (N, 3), and origins (N, 3) and
        directions (N, 3) in the blade frame."""
        uv = np.atleast_2d(np.asarray(uv, dtype=float))
        rays = np.column_stack([(uv - (self.cx, self.cy)) / self.focal_px, np.ones(len(uv))])
        rays /= np.linalg.norm(rays, axis=1, keepdims=True)
        pose = self.blade_from_camera
        assert pose is not None
        return rays, np.broadcast_to(pose[:3, 3], rays.shape), rays @ pose[:3, :3].T

    def pixel_areas_m2(self, uv: np.ndarray) -> np.ndarray:
        """Surface area (m²) each pixel (N, 2) covers: by range and incidence angle where its ray meets
        ``surface``, otherwise on the fronto-parallel plane at ``distance_m``."""
        uv = np.atleast_2d(np.asarray(uv, dtype=float))
        areas = np.full(len(uv), self.pixel_size_m**2)
        if not self.uses_surface or not len(uv):
            return areas
        rays, origins, directions = self._rays(uv)
        ranges, normals = self.surface.intersect(origins, directions)  # type: ignore[union-attr]
        hit = np.isfinite(ranges) & (ranges > 0)
        cos_incidence = np.abs(np.einsum("ij,ij->i", normals[hit], directions[hit]))
        cos_axis = rays[hit, 2]
        areas[hit] = (
            ranges[hit] ** 2 * cos_axis**3 / (self.focal_px**2 * np.maximum(cos_incidence, MIN_COS_INCIDENCE))
        )
        return areas

    def locate(self, uv: np.ndarray) -> np.ndarray:
        """Blade-frame points (N, 3) seen at pixels (N, 2): on ``surface`` where the ray meets it,
        otherwise on the focus plane (`pixels_to_blade`)."""
        points = self.pixels_to_blade(uv)
        if self.uses_surface:
            _, origins, directions = self._rays(uv)
            ranges, _ = self.surface.intersect(origins, directions)  # type: ignore[union-attr]
            hit = np.isfinite(ranges) & (ranges > 0)
            points[hit] = origins[hit] + ranges[hit, None] * directions[hit]
        return points

    def region_area_mm2(self, ys: np.ndarray, xs: np.ndarray) -> float:
        """Area (mm²) of the pixels at rows ``ys``, columns ``xs`` (a uniform sample of at most
        ``MAX_AREA_RAYS`` is ray-cast and scaled to the region's pixel count)."""
        if not self.uses_surface:
            return len(ys) * self.pixel_area_mm2
        step = max(1, int(np.ceil(len(ys) / MAX_AREA_RAYS)))
        uv = np.column_stack([xs[::step], ys[::step]]) + 0.5  # pixel centres
        return float(self.pixel_areas_m2(uv).mean() * len(ys) * 1e6)


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
                ys, xs = np.nonzero(crop)
                area_mm2 = view.region_area_mm2(ys + y, xs + x)
                if view.blade_from_camera is not None:
                    # pixel centres sit at +0.5 (OpenCV centroids are in pixel-index coordinates)
                    location = view.locate(np.array([[cx + 0.5, cy + 0.5]]))[0]
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


MERGE_GAP_MM = 0.5  # two sightings of one class closer than their half-extents plus this are one defect


def _half_extent_mm(record: Mapping[str, Any]) -> float:
    """Half the longer bounding-box side in mm (mm per pixel from the record's own area / pixels)."""
    pixels = max(int(record.get("pixel_area", 0)), 1)
    mm_per_px = float(np.sqrt(max(float(record.get("area_mm2", 0.0)), 0.0) / pixels))
    _, _, w, h = record.get("bbox", (0, 0, 0, 0))
    return 0.5 * max(w, h) * mm_per_px


def merge_views(records: Sequence[Mapping[str, Any]], gap_mm: float = MERGE_GAP_MM) -> list[dict[str, Any]]:
    """One record per physical defect from the records of every viewpoint of one blade.

    Overlapping viewpoints see one defect more than once: records of the same class whose blade-surface
    locations (``location_mm``) lie closer than the sum of their half-extents plus ``gap_mm`` are one
    defect (single linkage, so a long crack seen in pieces joins up). The merged record is the sighting
    with the largest area (its viewpoint, pixels and contour; the best-resolved view) with
    ``viewpoints``: every viewpoint that saw it. Records without a location are kept as they are."""
    if gap_mm < 0:
        raise ValueError(f"gap_mm must be >= 0, got {gap_mm}")
    items = [dict(r) for r in records]
    located = [i for i, r in enumerate(items) if r.get("location_mm") is not None]
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a_pos, a in enumerate(located):
        for b in located[a_pos + 1 :]:
            if items[a]["defect_class"] != items[b]["defect_class"]:
                continue
            distance = float(np.linalg.norm(np.subtract(items[a]["location_mm"], items[b]["location_mm"])))
            if distance <= _half_extent_mm(items[a]) + _half_extent_mm(items[b]) + gap_mm:
                parent[root(b)] = root(a)
    groups: dict[int, list[int]] = {}
    for i in range(len(items)):
        groups.setdefault(root(i), []).append(i)
    merged = []
    for members in groups.values():
        best = max(members, key=lambda i: (items[i].get("area_mm2", 0.0), -i))
        record = items[best]
        views = sorted({items[i]["viewpoint_index"] for i in members if "viewpoint_index" in items[i]})
        if views:
            record["viewpoints"] = views
        merged.append((min(members), record))
    return [record for _, record in sorted(merged, key=lambda m: m[0])]
