"""Parametric blade meshes: lofted NACA airfoil + platform + dovetail / fir-tree root, one watertight solid.

The three parts are built as closed meshes and merged with manifold3d's exact boolean union, so the
result is watertight by construction. Every face gets a label (`FACE_LABELS`) from its position and
normal, stored in ``mesh.face_attributes["label"]`` as an index into `FACE_LABELS`; `face_labels` reads
it back as names. A seed adds small part-to-part scatter (chord, camber, thickness, twist) so a batch of
"identical" blades differs like real parts do.
"""

from __future__ import annotations

import manifold3d
import numpy as np
import trimesh
from shapely.geometry import Polygon

from platform_control.blade.airfoil import naca4_section, polygon_area
from platform_control.blade.spec import FACE_LABELS, BladeSpec

_EMBED = 0.001  # airfoil reaches this far into the platform so the union is a clean solid
_LABEL_TOL = 1e-7


def generate_blade(
    spec: BladeSpec, seed: int | None = None, *, loft_rings: int | None = None
) -> trimesh.Trimesh:
    """A watertight blade mesh in the blade frame (root bottom at the origin, span along +z).

    ``seed=None`` gives the nominal part; any integer gives a reproducible variant within ``spec.scatter``.
    ``loft_rings`` overrides the number of airfoil sections (default: one per ``section_spacing``,
    at least 8); 2 gives a CAD-style loft whose triangles run the whole span.
    """
    spec = _with_scatter(spec, seed)
    parts = [_airfoil_mesh(spec, loft_rings), _platform_mesh(spec), _root_mesh(spec)]
    manifolds = [
        manifold3d.Manifold(
            manifold3d.Mesh64(
                vert_properties=np.ascontiguousarray(p.vertices, dtype=np.float64),
                tri_verts=np.ascontiguousarray(p.faces, dtype=np.uint64),
            )
        )
        for p in parts
    ]
    for part, m in zip(("airfoil", "platform", "root"), manifolds, strict=True):
        if m.status() != manifold3d.Error.NoError:
            raise RuntimeError(f"blade '{spec.name}': the {part} is not a closed solid ({m.status()})")
    solid = manifold3d.Manifold.batch_boolean(manifolds, manifold3d.OpType.Add)
    out = solid.to_mesh64()
    mesh = trimesh.Trimesh(np.asarray(out.vert_properties)[:, :3], np.asarray(out.tri_verts), process=True)
    mesh.remove_unreferenced_vertices()
    if not mesh.is_watertight or mesh.volume <= 0:
        raise RuntimeError(f"blade '{spec.name}': generated mesh is not a closed solid (a generator bug)")
    mesh.face_attributes["label"] = _label_faces(mesh, spec)
    mesh.metadata["blade_spec"] = spec.model_dump()
    mesh.metadata["seed"] = seed
    return mesh


def face_labels(mesh: trimesh.Trimesh) -> np.ndarray:
    """Label name of every face, (F,) array of str; raises if the mesh carries no labels."""
    codes = mesh.face_attributes.get("label")
    if codes is None or len(codes) != len(mesh.faces):
        raise ValueError(
            "mesh has no face labels: generate it with generate_blade() or load it with load_blade_mesh()"
        )
    return np.asarray(FACE_LABELS, dtype=object)[np.asarray(codes, dtype=int)]


def label_mask(mesh: trimesh.Trimesh, labels: tuple[str, ...] | list[str]) -> np.ndarray:
    """(F,) bool: faces whose label is one of ``labels``."""
    unknown = set(labels) - set(FACE_LABELS)
    if unknown:
        raise ValueError(f"unknown face labels {sorted(unknown)}; known: {FACE_LABELS}")
    return np.isin(face_labels(mesh), list(labels))


def _with_scatter(spec: BladeSpec, seed: int | None) -> BladeSpec:
    if seed is None or spec.scatter == 0:
        return spec
    rng = np.random.default_rng(seed)
    jitter = 1.0 + spec.scatter * np.clip(rng.standard_normal(5), -2.5, 2.5)
    varied = {
        "root_chord": spec.root_chord * jitter[0],
        "tip_chord": spec.tip_chord * jitter[1],
        "max_camber": spec.max_camber * jitter[2],
        "root_thickness": spec.root_thickness * jitter[3],
        "twist_deg": spec.twist_deg * jitter[4],
    }
    return BladeSpec(**{**spec.model_dump(), **varied})  # validated again: the variant must still fit


def _section(spec: BladeSpec, s: float) -> np.ndarray:
    """Airfoil outline (M, 2) at span fraction s in [0, 1]: centroid on the stacking axis, twisted."""
    chord = spec.root_chord + (spec.tip_chord - spec.root_chord) * s
    thickness = spec.root_thickness + (spec.tip_thickness - spec.root_thickness) * s
    outline = naca4_section(spec.max_camber, spec.camber_position, thickness, spec.points_per_side)
    outline = outline - _centroid(outline)
    angle = np.deg2rad(spec.stagger_deg + spec.twist_deg * s)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return chord * outline @ rot.T


def _centroid(outline: np.ndarray) -> np.ndarray:
    x, y = outline[:, 0], outline[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = polygon_area(outline)
    return np.array([np.sum((x + np.roll(x, -1)) * cross), np.sum((y + np.roll(y, -1)) * cross)]) / (6 * area)


def _airfoil_mesh(spec: BladeSpec, n_rings: int | None = None) -> trimesh.Trimesh:
    """Loft of the sections from just inside the platform to the tip, capped at both ends."""
    if n_rings is None:
        n_rings = max(8, int(np.ceil(spec.span / spec.section_spacing)) + 1)
    elif n_rings < 2:
        raise ValueError(f"loft_rings must be >= 2, got {n_rings}")
    z_levels = np.concatenate(
        [[spec.platform_top - _EMBED], spec.platform_top + np.linspace(0, spec.span, n_rings)]
    )
    rings = [_section(spec, float(np.clip((z - spec.platform_top) / spec.span, 0.0, 1.0))) for z in z_levels]
    m = len(rings[0])
    verts = np.vstack([np.column_stack([r, np.full(m, z)]) for r, z in zip(rings, z_levels, strict=True)])
    faces = []
    j = np.arange(m)
    jn = (j + 1) % m
    for k in range(len(rings) - 1):
        a, b = k * m + j, k * m + jn
        c, d = (k + 1) * m + jn, (k + 1) * m + j
        faces.append(np.column_stack([a, b, c]))
        faces.append(np.column_stack([a, c, d]))
    cap = np.asarray(manifold3d.triangulate([rings[-1]]), dtype=np.int64)
    if polygon_area(rings[-1]) < 0:
        raise RuntimeError("airfoil outline must be counter-clockwise")
    top = (len(rings) - 1) * m
    faces.append(cap + top)  # counter-clockwise seen from +z: normal +z
    bottom_cap = np.asarray(manifold3d.triangulate([rings[0]]), dtype=np.int64)
    faces.append(bottom_cap[:, ::-1])
    mesh = trimesh.Trimesh(verts, np.vstack(faces), process=False)
    return mesh


def _platform_mesh(spec: BladeSpec) -> trimesh.Trimesh:
    transform = np.eye(4)
    transform[2, 3] = spec.root_height + 0.5 * spec.platform_thickness
    extents = (spec.platform_length, spec.platform_width, spec.platform_thickness)
    return trimesh.creation.box(extents=extents, transform=transform)


def root_profile(spec: BladeSpec) -> np.ndarray:
    """Closed (y, z) outline of the dovetail / fir-tree root, counter-clockwise, z from 0 upwards.

    Each lobe narrows to a neck above it and the lobes shrink towards the bottom, like a fir tree. The
    outline reaches half-way into the platform so the union is a clean solid.
    """
    h, half, n = spec.root_height, 0.5 * spec.root_width, spec.root_lobes
    band = h / n
    lobes = [half * (1.0 - 0.18 * i) for i in range(n)]
    right = [(0.62 * lobes[0], h + 0.5 * spec.platform_thickness)]  # right flank, top to bottom
    for i, lobe in enumerate(lobes):
        top = h - i * band
        right += [(0.62 * lobe, top), (lobe, top - 0.45 * band), (lobe, top - 0.65 * band)]
    right.append((0.4 * lobes[-1], 0.0))
    flank = np.array(right)
    # down the left flank, along the bottom, up the right flank: counter-clockwise
    return np.vstack([flank * (-1.0, 1.0), flank[::-1]])


def _root_mesh(spec: BladeSpec) -> trimesh.Trimesh:
    """The root profile extruded along x over 80 % of the platform length."""
    length = 0.8 * spec.platform_length
    mesh = trimesh.creation.extrude_polygon(Polygon(root_profile(spec)), height=length)
    # local (x, y, z) = (y_blade, z_blade, x_blade): a cyclic permutation, so a proper rotation
    transform = np.array(
        [[0.0, 0.0, 1.0, -0.5 * length], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0, 0, 0, 1]]
    )
    mesh.apply_transform(transform)
    return mesh


def _label_faces(mesh: trimesh.Trimesh, spec: BladeSpec) -> np.ndarray:
    """Label index per face from where it lies and which way it faces."""
    z = mesh.triangles_center[:, 2]
    zmin = mesh.triangles[:, :, 2].min(axis=1)
    zmax = mesh.triangles[:, :, 2].max(axis=1)
    nz = mesh.face_normals[:, 2]
    tol = _LABEL_TOL
    code = {name: i for i, name in enumerate(FACE_LABELS)}
    labels = np.full(len(mesh.faces), code["airfoil"], dtype=np.int8)
    in_platform = (zmin >= spec.root_height - tol) & (zmax <= spec.platform_top + tol)
    labels[in_platform] = code["platform_side"]
    labels[
        in_platform
        & (np.abs(zmax - spec.platform_top) < tol)
        & (zmin > spec.platform_top - tol)
        & (nz > 0.999)
    ] = code["platform_top"]
    labels[(np.abs(zmax - spec.root_height) < tol) & (zmin > spec.root_height - tol) & (nz < -0.999)] = code[
        "platform_underside"
    ]
    labels[z < spec.root_height - tol] = code["root"]
    labels[(zmin > spec.tip_z - tol) & (nz > 0.999)] = code["tip"]
    return labels
