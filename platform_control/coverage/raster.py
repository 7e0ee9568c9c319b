"""The naive raster scan the planner is measured against.

From evenly spaced directions (horizontal every ``azimuth_step_deg``, plus tilted views for the tip
and the platform), the camera steps over the blade's silhouette in a serpentine grid with the usable
field of view as pitch, and through the blade's depth in layers one depth of field apart (both less
an element's size, so no element falls between two cells). Grid cells
with no surface inside their footprint and depth band are skipped; everything else is visited in grid
order. This is how a scan is set up without a planner: simple, complete, but with many frames.
"""

from __future__ import annotations

import numpy as np

from platform_control.camera import PinholeCamera
from platform_control.coverage.surface import InspectionSurface
from platform_control.stage import StageKinematics


def raster_directions(azimuth_step_deg: float, tilt_deg: float, tilt_azimuths: int) -> np.ndarray:
    """Blade-frame view directions (towards the camera): a horizontal ring, then a tilted ring."""
    az = np.deg2rad(np.arange(0.0, 360.0, azimuth_step_deg))
    ring = np.column_stack([np.cos(az), np.sin(az), np.zeros_like(az)])
    if tilt_azimuths <= 0:
        return ring
    t = np.deg2rad(tilt_deg)
    az2 = np.linspace(0, 2 * np.pi, tilt_azimuths, endpoint=False)
    tilted = np.column_stack([np.cos(az2) * np.cos(t), np.sin(az2) * np.cos(t), np.full_like(az2, np.sin(t))])
    return np.vstack([ring, tilted])


def _image_axes(stage: StageKinematics, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Blade-frame directions of the image x and y axes when the camera looks along ``direction``."""
    sols = stage.viewpoint_solutions(np.zeros(3), direction)
    if not sols:
        return None
    sols.sort(key=lambda s: abs(s[3]))
    rot = stage.camera_in_blade(sols[0])[:3, :3]
    return rot[:, 0], rot[:, 1]


def raster_viewpoints(
    surface: InspectionSurface,
    camera: PinholeCamera,
    stage: StageKinematics,
    *,
    azimuth_step_deg: float = 30.0,
    tilt_deg: float = 45.0,
    tilt_azimuths: int = 4,
    margin: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Raster focus points and view directions (N, 3) each, in serpentine visiting order.

    Neighbouring cells overlap by ``margin`` (use the element size) so that an element on a cell
    border lies wholly inside one of them, as the coverage criterion demands.
    """
    centers = surface.centers[surface.required]
    step_x, step_y = np.array(camera.usable_field_of_view()) - margin
    step_z = camera.depth_of_field - margin
    points, dirs = [], []
    for d in raster_directions(azimuth_step_deg, tilt_deg, tilt_azimuths):
        axes = _image_axes(stage, d)
        if axes is None:
            continue
        ex, ey = axes
        u, v, w = centers @ ex, centers @ ey, centers @ d
        xs = _grid(u.min(), u.max(), step_x)
        ys = _grid(v.min(), v.max(), step_y)
        zs = _grid(w.min(), w.max(), step_z)[::-1]  # nearest layer to the camera first
        for k, z in enumerate(zs):
            in_layer = np.abs(w - z) <= 0.5 * step_z
            rows = ys if k % 2 == 0 else ys[::-1]
            for j, y in enumerate(rows):
                cols = xs if (j + k) % 2 == 0 else xs[::-1]
                in_row = in_layer & (np.abs(v - y) <= 0.5 * step_y)
                for x in cols:
                    if np.any(in_row & (np.abs(u - x) <= 0.5 * step_x)):
                        points.append(x * ex + y * ey + z * d)
                        dirs.append(d)
    return np.array(points).reshape(-1, 3), np.array(dirs).reshape(-1, 3)


def _grid(lo: float, hi: float, step: float) -> np.ndarray:
    """Cell centres with pitch ``step`` covering [lo, hi], centred on the interval."""
    n = max(1, int(np.ceil((hi - lo) / step - 1e-9)))
    mid = 0.5 * (lo + hi)
    return mid + step * (np.arange(n) - 0.5 * (n - 1))
