"""A part family's blade model for the web pages: its mesh (mm, decimated) and its scan's cameras.

Why here: it combines the part-family catalog (`platform_control.part_families`: the blade model and
the scan plan the coordinator runs) with the records (`database.services.blade_models`). The
coordinator registers a family once per process, the first time one of its cycles starts, so the
blade map draws exactly the blade and viewpoints the cell scanned.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import numpy as np

from database.api.schemas.station import CameraFrustum, ViewpointPose
from platform_control.blade.decimate import decimate
from platform_control.part_families import PartFamilyCatalog

log = logging.getLogger(__name__)
MAX_FACES = 20_000  # what the page draws; the generated blades have ~4,000


def viewpoint_poses(catalog: PartFamilyCatalog, family: str) -> list[ViewpointPose]:
    """The scan plan's camera poses in the blade frame, mm (optical frame: z forward, y down)."""
    poses = []
    for i, axes in enumerate(catalog.scan_axes(family)):
        pose = catalog.kinematics.camera_in_blade(axes)
        rot, pos = pose[:3, :3], pose[:3, 3] * 1e3
        poses.append(
            ViewpointPose(
                index=i,
                position=[round(float(x), 3) for x in pos],
                forward=[round(float(x), 6) for x in rot[:, 2]],
                up=[round(float(x), 6) for x in -rot[:, 1]],
            )
        )
    return poses


def camera_frustum(catalog: PartFamilyCatalog) -> CameraFrustum:
    cam = catalog.camera
    fov = lambda px: math.degrees(2 * math.atan(px / 2 / cam.focal_length_px))  # noqa: E731
    return CameraFrustum(
        fov_x_deg=round(fov(cam.width_px), 3),
        fov_y_deg=round(fov(cam.height_px), 3),
        distance_mm=round(cam.working_distance * 1e3, 3),
    )


def blade_mesh_mm(
    catalog: PartFamilyCatalog, family: str, max_faces: int = MAX_FACES
) -> tuple[np.ndarray, np.ndarray]:
    mesh = catalog.blade_model(family).load()
    return decimate(np.asarray(mesh.vertices) * 1e3, np.asarray(mesh.faces), max_faces)


class BladeModelPublisher:
    """Registers each family's blade model once per process; failures are logged, never raised (the
    cycle does not depend on the blade map)."""

    def __init__(self, catalog: PartFamilyCatalog, store: Any) -> None:
        self.catalog = catalog
        self.store = store  # database.services.blade_models.BladeModelStore
        self._done: set[str] = set()
        self._lock = threading.Lock()

    def ensure(self, family: str) -> bool:
        with self._lock:
            if family in self._done:
                return True
            try:
                vertices, faces = blade_mesh_mm(self.catalog, family)
                model = self.catalog.blade_model(family)
                source = (
                    str(model.mesh) if model.mesh else f"generated: preset {model.preset}, seed {model.seed}"
                )
                self.store.save(
                    family,
                    vertices,
                    faces,
                    viewpoints=viewpoint_poses(self.catalog, family),
                    camera=camera_frustum(self.catalog),
                    source=source,
                )
            except Exception as exc:
                log.warning("blade model of %s not registered for the blade map: %s", family, exc)
                return False
            self._done.add(family)
            return True
