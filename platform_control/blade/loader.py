"""Load blade meshes (STL/OBJ) and make sure they are closed solids the planner can trust.

Repairs are made only when they cannot change the shape: merging coincident vertices, dropping faces
that collapsed to an edge or a point (or exact duplicates) when the mesh stays closed without them,
closing one-triangle / one-quad pin holes, and making the winding consistent and outward. Anything
else is refused with a `BladeMeshError` that says what is wrong, how many faces, and which ones.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import trimesh

from platform_control.blade.spec import FACE_LABELS

log = logging.getLogger(__name__)

UNIT_SCALE = {"m": 1.0, "mm": 1e-3, "in": 0.0254}
_SHOWN = 20  # face indices quoted in an error message


class BladeMeshError(ValueError):
    """A blade mesh that is not a usable closed solid.

    Attributes: ``problem`` ('not_watertight', 'degenerate_faces', 'non_manifold', 'winding', 'empty',
    'units', 'unreadable'), ``faces`` (indices into the mesh as read), ``count``.
    """

    def __init__(self, message: str, problem: str, faces: np.ndarray | None = None) -> None:
        super().__init__(message)
        self.problem = problem
        self.faces = np.asarray(faces if faces is not None else [], dtype=np.int64)
        self.count = len(self.faces)


def _quote(indices: np.ndarray) -> str:
    idx = np.asarray(indices, dtype=np.int64)
    shown = ", ".join(str(i) for i in idx[:_SHOWN])
    return f"[{shown}{', ...' if len(idx) > _SHOWN else ''}]"


def load_blade_mesh(
    path: str | Path,
    *,
    units: str = "mm",
    clamp_height: float | None = None,
    transform: np.ndarray | None = None,
    repair: bool = True,
) -> trimesh.Trimesh:
    """Read an STL/OBJ blade into the blade frame (metres) and validate it.

    Args:
        path: .stl or .obj file.
        units: length unit of the file ('m', 'mm', 'in').
        clamp_height: faces whose centre lies below this height (m, blade frame) are labelled 'root'
            (held in the fixture, excluded from coverage); the rest 'surface'. None: nothing clamped.
        transform: optional 4x4 applied after scaling, to bring the part into the blade frame
            (root at the origin, span along +z).
        repair: allow the shape-preserving repairs listed in the module docstring.
    """
    path = Path(path)
    if path.suffix.lower() not in {".stl", ".obj"}:
        raise BladeMeshError(
            f"blade mesh {path}: unsupported format '{path.suffix}', use .stl or .obj", "unreadable"
        )
    if not path.is_file():
        raise FileNotFoundError(f"blade mesh {path} does not exist")
    if units not in UNIT_SCALE:
        raise ValueError(f"blade mesh {path}: unknown units '{units}', choose one of {sorted(UNIT_SCALE)}")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for corrupt files
        raise BladeMeshError(f"blade mesh {path} cannot be read: {exc}", "unreadable") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise BladeMeshError(f"blade mesh {path} contains no triangles", "empty")
    mesh.apply_scale(UNIT_SCALE[units])
    if transform is not None:
        mesh.apply_transform(np.asarray(transform, dtype=float))
    mesh = validate_blade_mesh(mesh, source=str(path), repair=repair)
    extent = float(np.linalg.norm(mesh.extents))
    if not 0.005 <= extent <= 1.5:
        raise BladeMeshError(
            f"blade mesh {path} is {extent:.4g} m across when read as units='{units}'; wrong units?", "units"
        )
    label = np.full(len(mesh.faces), FACE_LABELS.index("surface"), dtype=np.int8)
    if clamp_height is not None:
        label[mesh.triangles_center[:, 2] < clamp_height] = FACE_LABELS.index("root")
    mesh.face_attributes["label"] = label
    mesh.metadata["source"] = str(path)
    return mesh


def degenerate_faces(mesh: trimesh.Trimesh, area_tol: float | None = None) -> np.ndarray:
    """Indices of faces with a repeated vertex or (near) zero area."""
    faces = mesh.faces
    repeated = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    scale = float(np.max(mesh.extents)) if len(mesh.vertices) else 1.0
    tol = area_tol if area_tol is not None else 1e-12 * scale * scale
    return np.flatnonzero(repeated | (mesh.area_faces <= tol))


def open_edge_faces(mesh: trimesh.Trimesh) -> tuple[int, np.ndarray, int, np.ndarray]:
    """(number of boundary edges, faces touching them, number of non-manifold edges, their faces)."""
    edges = np.sort(mesh.edges, axis=1)
    _, inverse, counts = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    face_of_edge = np.repeat(np.arange(len(mesh.faces)), 3)
    boundary = counts[inverse] == 1
    nonmanifold = counts[inverse] > 2
    return (
        int(np.sum(counts == 1)),
        np.unique(face_of_edge[boundary]),
        int(np.sum(counts > 2)),
        np.unique(face_of_edge[nonmanifold]),
    )


def validate_blade_mesh(
    mesh: trimesh.Trimesh, *, source: str = "mesh", repair: bool = True
) -> trimesh.Trimesh:
    """A closed, consistently wound, positive-volume copy of ``mesh``, or a precise `BladeMeshError`.

    Face indices in errors refer to ``mesh`` as passed in.
    """
    mesh = mesh.copy()
    origin = np.arange(len(mesh.faces))  # index in the input of every current face
    repairs: list[str] = []
    if not np.all(np.isfinite(mesh.vertices)):
        raise BladeMeshError(f"blade mesh {source}: vertices contain NaN or infinity", "unreadable")
    n_before = len(mesh.vertices)
    mesh.merge_vertices(merge_tex=True, merge_norm=True)  # by position only: OBJ seams must close
    if len(mesh.vertices) < n_before:
        repairs.append(f"merged {n_before - len(mesh.vertices)} coincident vertices")

    bad = degenerate_faces(mesh)
    _, dup_first = np.unique(np.sort(mesh.faces, axis=1), axis=0, return_index=True)
    duplicates = np.setdiff1d(np.arange(len(mesh.faces)), dup_first)
    drop = np.union1d(bad, duplicates)
    if len(drop):
        kept = np.setdiff1d(np.arange(len(mesh.faces)), drop)
        candidate = trimesh.Trimesh(mesh.vertices, mesh.faces[kept], process=False)
        if repair and candidate.is_watertight:
            mesh = candidate
            origin = origin[kept]
            mesh.remove_unreferenced_vertices()
            repairs.append(f"removed {len(drop)} degenerate/duplicate faces {_quote(drop)}")
        elif not repair or mesh.is_watertight:
            why = "repair=False" if not repair else "removing them would open the surface"
            raise BladeMeshError(
                f"blade mesh {source}: {len(drop)} degenerate faces (zero area, repeated vertices or "
                f"duplicates) {_quote(drop)}; {why}",
                "degenerate_faces",
                drop,
            )

    n_open, _, n_nonmanifold, nm_faces = open_edge_faces(mesh)
    nm_faces = origin[nm_faces]
    if n_nonmanifold:
        raise BladeMeshError(
            f"blade mesh {source}: {n_nonmanifold} non-manifold edges (shared by more than two faces) on "
            f"{len(nm_faces)} faces {_quote(nm_faces)}",
            "non_manifold",
            nm_faces,
        )
    if n_open and repair:
        n_faces = len(mesh.faces)
        trimesh.repair.fill_holes(mesh)
        origin = np.concatenate([origin, np.full(len(mesh.faces) - n_faces, -1)])  # -1: added faces
        n_after, _, _, _ = open_edge_faces(mesh)
        if n_after < n_open:
            repairs.append(f"closed pin holes ({n_open - n_after} of {n_open} open edges)")
        n_open = n_after
    if n_open:
        open_faces = origin[open_edge_faces(mesh)[1]]
        open_faces = open_faces[open_faces >= 0]
        raise BladeMeshError(
            f"blade mesh {source} is not watertight: {n_open} open (boundary) edges on {len(open_faces)} "
            f"faces {_quote(open_faces)}; close the surface in CAD and export again"
            + (f" (it also has {len(drop)} degenerate faces {_quote(drop)})" if len(drop) else ""),
            "not_watertight",
            open_faces,
        )
    if not mesh.is_winding_consistent:
        if not repair:
            raise BladeMeshError(f"blade mesh {source}: inconsistent face winding; repair=False", "winding")
        trimesh.repair.fix_winding(mesh)
        repairs.append("made the face winding consistent")
    if mesh.volume < 0:
        mesh.invert()
        repairs.append("turned the normals outwards")
    if mesh.volume <= 0:
        raise BladeMeshError(f"blade mesh {source} encloses no volume ({mesh.volume:.3g} m^3)", "empty")
    for message in repairs:
        log.info("blade mesh %s: %s", source, message)
    mesh.metadata["repairs"] = repairs
    return mesh
