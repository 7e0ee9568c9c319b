"""Which surface elements can be seen from outside the part at all.

Inner faces (internal sheets, enclosed cavities, the inside of a doubled shell) cannot be imaged
from any camera pose. An element counts as exposed when at least one line of sight from far outside
reaches it, among evenly spread directions within ``max_angle_deg`` of its normal. One batch of
rays answers it for the whole surface, so it is cheap with a BVH caster.
"""

from __future__ import annotations

import numpy as np
import trimesh

from platform_control.coverage.surface import InspectionSurface
from platform_control.coverage.visibility import RayCaster


def exposed_elements(
    surface: InspectionSurface,
    caster: RayCaster,
    *,
    elements: np.ndarray | None = None,
    max_angle_deg: float = 80.0,
    subdivisions: int = 2,
) -> np.ndarray:
    """(E,) bool over the surface (False outside ``elements``): some outside line of sight reaches it."""
    index = np.arange(len(surface)) if elements is None else np.asarray(elements, dtype=np.int64)
    out = np.zeros(len(surface), dtype=bool)
    if len(index) == 0:
        return out
    dirs = trimesh.creation.icosphere(subdivisions=subdivisions).vertices
    far = 2.0 * float(np.linalg.norm(surface.mesh.extents)) + 0.01
    cos = surface.normals[index] @ dirs.T
    elem, k = np.nonzero(cos >= np.cos(np.deg2rad(max_angle_deg)))
    targets = surface.centers[index][elem]
    vis = caster.visible_rays(targets + far * dirs[k], targets)
    out[index[np.unique(elem[vis])]] = True
    return out
