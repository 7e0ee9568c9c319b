"""Exact class masks of one defect seen head-on and tilted, with each view's geometry.

For checking the defect-record chain on ground truth (records on the blade surface, one record per
defect across views, the verdict) without a network: `benchmarks/crack_verdict.py` and the acceptance
tests image a blade carrying one defect from a few tilts about its surface normal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import trimesh

from platform_control.defect_regions import MeshSurface, ViewGeometry
from platform_control.params import load_camera_params
from platform_control.sim.cell import SimCell
from platform_control.sim.defects import Defect
from platform_control.sim.optics import load_optics
from platform_control.sim.render import SimBlade
from platform_control.stage import StageKinematics


def defect_views(
    mesh: trimesh.Trimesh, defect: Defect, tilts_deg: Sequence[float], binning: int
) -> list[tuple[np.ndarray, ViewGeometry]]:
    """(uint8 class mask (H, W), view geometry on the blade surface) for each tilt of the view
    direction away from the defect's normal, the blade on the stage fixture, the sensor binned
    ``binning`` x ``binning``."""
    optics = load_optics().with_binning(load_camera_params(), binning)
    views = []
    with SimCell(SimBlade(mesh, [defect], 5), optics=optics) as cell:
        camera = cell.camera_params
        stage = StageKinematics(cell.stage_params, cell.layout, camera)
        cell.place_blade("fixture")
        normal = defect.frame.normal
        side = np.cross(normal, [0.0, 0.0, 1.0])
        side /= np.linalg.norm(side)
        for tilt in np.radians(list(tilts_deg)):
            view_dir = normal * np.cos(tilt) + np.cross(side, normal) * np.sin(tilt)
            axes = stage.viewpoint_to_axes(defect.frame.center, view_dir)
            cell.set_stage_axes(axes)
            mask = np.asarray(cell.renderer().capture(cell.data, np.random.default_rng(0)).mask, np.uint8)
            geometry = ViewGeometry.for_frame(
                mask.shape[1],
                mask.shape[0],
                sensor_width_px=camera.width_px,
                sensor_height_px=camera.height_px,
                sensor_focal_px=camera.focal_length_px,
                distance_m=camera.working_distance,
                blade_from_camera=stage.camera_in_blade(axes),
                surface=MeshSurface(mesh),
            )
            views.append((mask, geometry))
    return views
