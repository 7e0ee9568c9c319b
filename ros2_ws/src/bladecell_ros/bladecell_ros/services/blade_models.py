"""A part family's blade model for the web pages: its mesh (mm, decimated) and its scan's cameras.

Why here: it combines the part-family catalog (`platform_control.part_families`: the blade model and
the scan plan the coordinator runs) with the records (`database.services.blade_models`). The
coordinator registers a family once per process, the first time one of its cycles starts, so the
blade map draws exactly the blade and viewpoints the cell scanned. A save that meets a database
outage is repeated off the cycle's thread through the cell's `OutageGuard` (issue 16): the map of a
family whose first cycle started during a short outage is there once the database is back, and the
cycle waits no longer than for the one attempt it always made.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import numpy as np

from database.api.schemas.station import CameraFrustum, ViewpointPose
from platform_control.blade.decimate import decimate
from platform_control.cycle.retry import RetryCancelled
from platform_control.part_families import PartFamilyCatalog

from .db_outage import OutageGuard, is_outage

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
    cycle does not depend on the blade map). With a `guard`, a save that met an outage is retried in
    the background (one thread per family at most) until it is written or the tolerance passes."""

    def __init__(self, catalog: PartFamilyCatalog, store: Any, guard: OutageGuard | None = None) -> None:
        self.catalog = catalog
        self.store = store  # database.services.blade_models.BladeModelStore
        self.guard = guard
        self._done: set[str] = set()
        self._retrying: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def ensure(self, family: str) -> bool:
        """True when the family's model is registered (now or before); False when it is not (yet)."""
        with self._lock:
            if family in self._done or family in self._retrying:
                return family in self._done
            try:
                save = self._save_call(family)
                save()
            except Exception as exc:
                if self.guard is None or not is_outage(exc):
                    log.warning("blade model of %s not registered for the blade map: %s", family, exc)
                    return False
                log.warning("blade model of %s waits for the database: %s", family, exc)
                thread = threading.Thread(
                    target=self._retry, args=(family, save), name=f"blade-model-{family}", daemon=True
                )
                self._retrying[family] = thread
                thread.start()
                return False
            self._done.add(family)
            return True

    def _save_call(self, family: str) -> Any:
        """The save of `family`'s model as a call that can be repeated (the store replaces the row)."""
        vertices, faces = blade_mesh_mm(self.catalog, family)
        model = self.catalog.blade_model(family)
        source = str(model.mesh) if model.mesh else f"generated: preset {model.preset}, seed {model.seed}"
        viewpoints, camera = viewpoint_poses(self.catalog, family), camera_frustum(self.catalog)

        def save() -> None:
            self.store.save(family, vertices, faces, viewpoints=viewpoints, camera=camera, source=source)

        return save

    def _retry(self, family: str, save: Any) -> None:
        assert self.guard is not None
        try:
            self.guard.call(f"registering the blade model of {family}", save, cancel=self._stop)
        except RetryCancelled:
            return
        except Exception as exc:
            log.warning("blade model of %s not registered for the blade map: %s", family, exc)
            with self._lock:
                del self._retrying[family]  # the next cycle of the family tries again
            return
        with self._lock:
            self._done.add(family)
            del self._retrying[family]
        log.info("blade model of %s registered for the blade map", family)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the retries in progress (tests, shutdown)."""
        with self._lock:
            threads = list(self._retrying.values())
        for thread in threads:
            thread.join(timeout)

    def close(self) -> None:
        """Stop retrying (the process ends; the next one registers the model again)."""
        self._stop.set()
        self.wait(5.0)
