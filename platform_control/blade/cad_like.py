"""CAD-export-like variants of a generated blade, to test and benchmark against messy real meshes.

A plant's STL of a blade is rarely a clean, evenly triangulated solid: CAD lofts export span-long
sliver triangles, shells come with uncapped span ends, bodies carry internal construction sheets,
and remeshing multiplies the face count without changing the shape. `cad_like_blade` builds each of
these from a generated blade, so the planner's cost and robustness can be measured against them.
"""

from __future__ import annotations

import numpy as np
import trimesh
from trimesh import remesh

from platform_control.blade.generator import _section, _with_scatter, generate_blade
from platform_control.blade.spec import FACE_LABELS, BladeSpec


def cad_like_blade(
    spec: BladeSpec,
    seed: int | None = None,
    *,
    points_per_side: int = 100,
    open_ends: bool = False,
    internal_sheet: bool = False,
    target_faces: int | None = None,
) -> trimesh.Trimesh:
    """A generated blade lofted like a CAD export, with the requested defects; labels kept.

    Args:
        points_per_side: airfoil outline points per side; the loft has only two sections, so its
            triangles are span-long slivers (aspect ratio ~ span / outline spacing).
        open_ends: drop the tip cap and the root's bottom face (an open STL shell).
        internal_sheet: add a separate ruled sheet inside the airfoil (a leftover construction surface).
        target_faces: split every face in four as often as brings the face count nearest to this (a
            denser copy of the same shape with the same triangle quality).
    """
    spec = spec.model_copy(update={"points_per_side": points_per_side})
    mesh = generate_blade(spec, seed, loft_rings=2)
    labels = np.asarray(mesh.face_attributes["label"])
    code = {name: i for i, name in enumerate(FACE_LABELS)}
    if open_ends:
        tip = labels == code["tip"]
        bottom = (mesh.triangles[:, :, 2].max(axis=1) < 1e-9) & (mesh.face_normals[:, 2] < -0.999)
        keep = ~(tip | bottom)
        mesh = trimesh.Trimesh(mesh.vertices, mesh.faces[keep], process=False)
        mesh.remove_unreferenced_vertices()
        labels = labels[keep]
    if internal_sheet:
        sheet = _internal_sheet(_with_scatter(spec, seed))
        base = len(mesh.vertices)
        mesh = trimesh.Trimesh(
            np.vstack([mesh.vertices, sheet.vertices]),
            np.vstack([mesh.faces, sheet.faces + base]),
            process=False,
        )
        labels = np.concatenate([labels, np.full(len(sheet.faces), code["airfoil"], dtype=labels.dtype)])
    while target_faces is not None and abs(4 * len(mesh.faces) - target_faces) < abs(
        len(mesh.faces) - target_faces
    ):
        verts, faces, index = remesh.subdivide(mesh.vertices, mesh.faces, return_index=True)
        parent = np.empty(len(faces), dtype=np.int64)
        for old, new in index.items():
            parent[new] = old
        mesh = trimesh.Trimesh(verts, faces, process=False)
        labels = labels[parent]
    mesh.face_attributes["label"] = labels
    return mesh


def _internal_sheet(spec: BladeSpec, strips: int = 8) -> trimesh.Trimesh:
    """A sheet from 40 % of the way to the leading edge, through the centroid, to 40 % of the way to
    the trailing edge of each section (inside the airfoil), from just above the platform to below the tip."""
    z = spec.platform_top + spec.span * np.linspace(0.1, 0.9, strips + 1)
    rows = []
    for zk in z:
        outline = _section(spec, float((zk - spec.platform_top) / spec.span))  # centroid at the origin
        lead, trail = outline[np.argmin(outline[:, 0])], outline[np.argmax(outline[:, 0])]
        rows += [[*(0.4 * lead), zk], [0.0, 0.0, zk], [*(0.4 * trail), zk]]
    verts = np.array(rows)
    faces = []
    for k in range(strips):
        for j in range(2):
            a, b = 3 * k + j, 3 * k + j + 1
            c, d = b + 3, a + 3
            faces += [[a, b, c], [a, c, d]]
    return trimesh.Trimesh(verts, np.array(faces), process=False)


def aspect_ratios(mesh: trimesh.Trimesh) -> np.ndarray:
    """(F,) longest edge over the height onto it: 1.15 for an equilateral triangle, large for slivers."""
    tri = mesh.triangles
    longest = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(axis=1)
    area = np.maximum(mesh.area_faces, np.finfo(float).tiny)
    return longest**2 / (2 * area)
