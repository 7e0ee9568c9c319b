"""Candidate viewpoints: where the focus point could sit on the blade and which way the camera looks.

Seeds: required surface elements are grouped by position (cubes of ``spacing``) and by normal
direction (the nearest of ~160 evenly spread directions, ~17 deg apart); each group proposes one view
looking head-on at its area-weighted mean normal, focused on the group's most central element.
Refinement: elements no candidate images (occluded corners next to the airfoil, the edges' tight
curvature) get targeted views tilted away from their normal inside the incidence limit.
"""

from __future__ import annotations

import numpy as np
import trimesh

from platform_control.coverage.surface import InspectionSurface


def direction_bins(subdivisions: int = 2) -> np.ndarray:
    """Evenly spread unit directions (the vertices of an icosphere): 42, 162, 642... for 1, 2, 3."""
    return trimesh.creation.icosphere(subdivisions=subdivisions).vertices


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def grouped_views(
    surface: InspectionSurface, elements: np.ndarray, spacing: float, bins: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One head-on view per (position cube, normal bin) group of ``elements``: (points, directions)."""
    if len(elements) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    centers = surface.centers[elements]
    normals = surface.normals[elements]
    areas = surface.areas[elements]
    cell = np.floor(centers / spacing).astype(np.int64)
    dir_bin = np.argmax(normals @ bins.T, axis=1)
    keys = np.column_stack([cell, dir_bin])
    _, group = np.unique(keys, axis=0, return_inverse=True)
    group = group.reshape(-1)
    n = group.max() + 1
    weight = np.bincount(group, weights=areas, minlength=n)
    mean_c = np.column_stack(
        [np.bincount(group, weights=areas * centers[:, k], minlength=n) for k in range(3)]
    )
    mean_n = np.column_stack(
        [np.bincount(group, weights=areas * normals[:, k], minlength=n) for k in range(3)]
    )
    mean_c /= weight[:, None]
    mean_n = _unit(mean_n)  # normals in one bin lie within ~20 deg of each other: never cancel out
    # the focus point: the group's element closest to its area-weighted centre (a point on the surface)
    dist = np.linalg.norm(centers - mean_c[group], axis=1)
    order = np.lexsort((dist, group))
    first = order[np.searchsorted(group[order], np.arange(n))]
    return centers[first], mean_n


def tilted_views(
    points: np.ndarray, normals: np.ndarray, tilts_deg: tuple[float, ...], azimuths: int
) -> tuple[np.ndarray, np.ndarray]:
    """Views of each point looking along its normal tilted by each angle, at ``azimuths`` azimuths."""
    normals = _unit(np.atleast_2d(normals))
    helper = np.where(np.abs(normals[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = _unit(np.cross(normals, helper))
    e2 = np.cross(normals, e1)
    pts, dirs = [points], [normals]
    for tilt in np.deg2rad(tilts_deg):
        for phi in np.linspace(0, 2 * np.pi, azimuths, endpoint=False):
            side = np.cos(phi) * e1 + np.sin(phi) * e2
            pts.append(points)
            dirs.append(np.cos(tilt) * normals + np.sin(tilt) * side)
    return np.vstack(pts), _unit(np.vstack(dirs))
