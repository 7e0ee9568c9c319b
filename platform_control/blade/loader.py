"""Load blade meshes (STL/OBJ) and make sure they are closed solids the planner can trust.

Repairs are made only when they cannot change the shape: merging coincident vertices, dropping faces
that collapsed to an edge or a point (or exact duplicates, which also removes a body exported twice)
when the mesh stays closed without them, dropping open sheets that lie wholly inside the part (CAD
construction surfaces), closing one-triangle / one-quad pin holes, and making the winding consistent
and outward. Anything else (open shells, separate or nested bodies, non-manifold edges) is refused
with a `BladeMeshError` that says what is wrong, how many faces, and which ones, unless the caller
asks for ``outer_surface=True``: then the mesh is kept as it is (after the same safe repairs) and the
coverage planner, with ``outer_surface_only=True``, inspects what can be seen from outside.

Units: when ``units`` is not given, they are guessed from the size of the part (blades are 10 mm to
600 mm across), and the guess is logged and stored in ``mesh.metadata["units"]``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import trimesh

from platform_control.blade.spec import FACE_LABELS

log = logging.getLogger(__name__)

UNIT_SCALE = {"mm": 1e-3, "m": 1.0, "in": 0.0254, "cm": 1e-2}  # in order of preference when guessing
BLADE_SIZE_RANGE = (0.010, 0.600)  # m, plausible largest extent of a blade (unit guess, sanity check)
_SHOWN = 20  # face indices quoted in an error message
_OUTER_HINT = (
    "; to inspect only the surface seen from outside, load with outer_surface=True and plan with "
    "CoveragePlanner(outer_surface_only=True)"
)


class BladeMeshError(ValueError):
    """A blade mesh that is not a usable closed solid.

    Attributes: ``problem`` ('not_watertight', 'degenerate_faces', 'non_manifold', 'winding', 'empty',
    'units', 'unreadable', 'several_bodies', 'internal_body'), ``faces`` (indices into the mesh as
    read), ``count``.
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


def guess_units(extent: float) -> tuple[str, str]:
    """(unit, explanation) for a part whose largest extent is ``extent`` in file units.

    The first unit in `UNIT_SCALE` order that makes it a plausible blade size wins; the explanation
    names the other plausible readings, if any.
    """
    lo, hi = BLADE_SIZE_RANGE
    plausible = [u for u, k in UNIT_SCALE.items() if lo <= extent * k <= hi]
    if not plausible:
        raise BladeMeshError(
            f"cannot guess the units: the part is {extent:.4g} units across, which is no plausible blade "
            f"size ({lo * 1e3:.0f}-{hi * 1e3:.0f} mm) in any of {list(UNIT_SCALE)}; pass units=",
            "units",
        )
    unit = plausible[0]
    note = f"units guessed as '{unit}' (the part is {extent * UNIT_SCALE[unit] * 1e3:.1f} mm across)"
    if len(plausible) > 1:
        others = ", ".join(f"'{u}' ({extent * UNIT_SCALE[u] * 1e3:.0f} mm)" for u in plausible[1:])
        note += f"; also plausible: {others}; pass units= if the guess is wrong"
    return unit, note


def load_blade_mesh(
    path: str | Path,
    *,
    units: str | None = None,
    clamp_height: float | None = None,
    transform: np.ndarray | None = None,
    repair: bool = True,
    outer_surface: bool = False,
) -> trimesh.Trimesh:
    """Read an STL/OBJ blade into the blade frame (metres) and validate it.

    Args:
        path: .stl or .obj file.
        units: length unit of the file ('mm', 'm', 'in', 'cm'); None: guessed from the part's size,
            the guess logged and stored in ``mesh.metadata["units"]``.
        clamp_height: faces whose centre lies below this height (m, blade frame) are labelled 'root'
            (held in the fixture, excluded from coverage); the rest 'surface'. None: nothing clamped.
        transform: optional 4x4 applied after scaling, to bring the part into the blade frame
            (root at the origin, span along +z).
        repair: allow the shape-preserving repairs listed in the module docstring.
        outer_surface: accept open shells, several bodies and inner faces (after the safe repairs)
            instead of refusing them; plan such a mesh with ``CoveragePlanner(outer_surface_only=True)``.
    """
    path = Path(path)
    if path.suffix.lower() not in {".stl", ".obj"}:
        raise BladeMeshError(
            f"blade mesh {path}: unsupported format '{path.suffix}', use .stl or .obj", "unreadable"
        )
    if not path.is_file():
        raise FileNotFoundError(f"blade mesh {path} does not exist")
    if units is not None and units not in UNIT_SCALE:
        raise ValueError(f"blade mesh {path}: unknown units '{units}', choose one of {sorted(UNIT_SCALE)}")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for corrupt files
        raise BladeMeshError(f"blade mesh {path} cannot be read: {exc}", "unreadable") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise BladeMeshError(f"blade mesh {path} contains no triangles", "empty")
    if not np.all(np.isfinite(mesh.vertices)):
        raise BladeMeshError(f"blade mesh {path}: vertices contain NaN or infinity", "unreadable")
    if units is None:
        units, note = guess_units(float(np.max(mesh.extents)))
        log.warning("blade mesh %s: %s", path, note)
    else:
        note = f"units '{units}' as given"
    mesh.apply_scale(UNIT_SCALE[units])
    if transform is not None:
        mesh.apply_transform(np.asarray(transform, dtype=float))
    mesh = validate_blade_mesh(mesh, source=str(path), repair=repair, outer_surface=outer_surface)
    mesh.metadata["units"] = {"unit": units, "note": note}
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
    edges = np.sort(mesh.edges, axis=1).astype(np.int64)
    key = edges[:, 0] * max(len(mesh.vertices), 1) + edges[:, 1]  # one int per edge: 1-D unique is fast
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
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


def face_bodies(mesh: trimesh.Trimesh) -> np.ndarray:
    """(F,) connected-body index of every face (faces sharing an edge belong to one body)."""
    return trimesh.graph.connected_component_labels(mesh.face_adjacency, node_count=len(mesh.faces))


def _separate_bodies(
    mesh: trimesh.Trimesh, origin: np.ndarray, source: str, repair: bool, outer_surface: bool
) -> tuple[trimesh.Trimesh, np.ndarray, list[str]]:
    """Drop open sheets inside the main closed body; refuse other extra bodies (unless outer_surface)."""
    body = face_bodies(mesh)
    n = int(body.max()) + 1 if len(body) else 0
    if n <= 1:
        return mesh, origin, []
    area = np.bincount(body, weights=mesh.area_faces, minlength=n)
    parts = [np.flatnonzero(body == b) for b in range(n)]
    closed = [mesh.submesh([f], append=True).is_watertight for f in parts]
    main = int(np.argmax(np.where(closed, area, -1.0))) if any(closed) else int(np.argmax(area))
    solid = mesh.submesh([parts[main]], append=True)
    sheets, nested, apart = [], [], []
    for b in range(n):
        if b == main:
            continue
        inside = closed[main] and bool(np.all(solid.contains(mesh.vertices[np.unique(mesh.faces[parts[b]])])))
        (sheets if inside and not closed[b] else nested if inside else apart).append(b)
    if not repair:
        nested, sheets = nested + sheets, []
    if (nested or apart) and not outer_surface:
        bad = nested + apart
        faces = np.sort(origin[np.concatenate([parts[b] for b in bad])])
        kind = "several_bodies" if apart else "internal_body"
        what = (
            f"{len(apart) + 1} separate bodies"
            if apart
            else f"{len(nested)} bod{'y' if len(nested) == 1 else 'ies'} inside the main body "
            "(a cavity, a doubled shell, or repair=False)"
        )
        raise BladeMeshError(
            f"blade mesh {source}: {what}; the other bodies have {len(faces)} faces {_quote(faces)}"
            f"{_mixed_units_note(mesh, parts, main, bad)}{_OUTER_HINT}",
            kind,
            faces,
        )
    if not sheets:
        return mesh, origin, []
    drop = np.concatenate([parts[b] for b in sheets])
    keep = np.setdiff1d(np.arange(len(mesh.faces)), drop)
    note = f"removed {len(sheets)} open sheet(s) inside the part, {len(drop)} faces "
    note += _quote(np.sort(origin[drop]))
    mesh = trimesh.Trimesh(mesh.vertices, mesh.faces[keep], process=False)
    mesh.remove_unreferenced_vertices()
    return mesh, origin[keep], [note]


def _mixed_units_note(mesh: trimesh.Trimesh, parts: list[np.ndarray], main: int, others: list[int]) -> str:
    """A hint when another body is ~10, 25.4 or 1000 times smaller or larger than the main one."""

    def size(b: int) -> float:
        return float(np.max(np.ptp(mesh.vertices[np.unique(mesh.faces[parts[b]])], axis=0)))

    main_size = size(main)
    for b in others:
        ratio = max(size(b), main_size) / max(min(size(b), main_size), 1e-12)
        for factor, units in ((1000.0, "mm/m"), (25.4, "mm/in"), (10.0, "mm/cm")):
            if abs(np.log(ratio / factor)) < 0.15:
                return f" (one body is ~{factor:g}x the size of the main one: mixed units {units}?)"
    return ""


def _face_keys(mesh: trimesh.Trimesh) -> np.ndarray:
    """One value per face, equal for faces with the same three vertices in any order."""
    faces = np.sort(mesh.faces, axis=1).astype(np.int64)
    n = max(len(mesh.vertices), 1)
    if n < 2_000_000:  # n^3 fits in int64
        return (faces[:, 0] * n + faces[:, 1]) * n + faces[:, 2]
    return np.ascontiguousarray(faces).view(np.dtype((np.void, faces.dtype.itemsize * 3))).ravel()


def validate_blade_mesh(
    mesh: trimesh.Trimesh, *, source: str = "mesh", repair: bool = True, outer_surface: bool = False
) -> trimesh.Trimesh:
    """A closed, consistently wound, positive-volume copy of ``mesh``, or a precise `BladeMeshError`.

    Face indices in errors refer to ``mesh`` as passed in. ``outer_surface=True`` keeps open shells,
    several bodies and inner faces after the safe repairs instead of refusing them. Face labels
    (``face_attributes["label"]``) follow their faces.
    """
    labels_in = mesh.face_attributes.get("label")
    if labels_in is not None and len(labels_in) != len(mesh.faces):
        labels_in = None
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
    _, dup_first = np.unique(_face_keys(mesh), return_index=True)
    duplicates = np.setdiff1d(np.arange(len(mesh.faces)), dup_first)
    drop = np.union1d(bad, duplicates)
    if len(drop):
        kept = np.setdiff1d(np.arange(len(mesh.faces)), drop)
        candidate = trimesh.Trimesh(mesh.vertices, mesh.faces[kept], process=False)
        # safe when no edge becomes open: a duplicated body or doubled faces go, a load-bearing sliver stays
        if repair and open_edge_faces(candidate)[0] <= open_edge_faces(mesh)[0]:
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
    if n_nonmanifold and outer_surface:
        log.warning("blade mesh %s: %d non-manifold edges kept (outer_surface=True)", source, n_nonmanifold)
    elif n_nonmanifold:
        raise BladeMeshError(
            f"blade mesh {source}: {n_nonmanifold} non-manifold edges (shared by more than two faces) on "
            f"{len(nm_faces)} faces {_quote(nm_faces)}{_OUTER_HINT}",
            "non_manifold",
            nm_faces,
        )
    mesh, origin, body_repairs = _separate_bodies(mesh, origin, source, repair, outer_surface)
    repairs += body_repairs
    n_open = open_edge_faces(mesh)[0]
    if n_open and repair:
        n_faces = len(mesh.faces)
        trimesh.repair.fill_holes(mesh)
        origin = np.concatenate([origin, np.full(len(mesh.faces) - n_faces, -1)])  # -1: added faces
        n_after, _, _, _ = open_edge_faces(mesh)
        if n_after < n_open:
            repairs.append(f"closed pin holes ({n_open - n_after} of {n_open} open edges)")
        n_open = n_after
    if n_open and outer_surface:
        log.warning("blade mesh %s: %d open edges kept (outer_surface=True)", source, n_open)
    elif n_open:
        open_faces = origin[open_edge_faces(mesh)[1]]
        open_faces = open_faces[open_faces >= 0]
        raise BladeMeshError(
            f"blade mesh {source} is not watertight: {n_open} open (boundary) edges on {len(open_faces)} "
            f"faces {_quote(open_faces)}; close the surface in CAD and export again"
            + (f" (it also has {len(drop)} degenerate faces {_quote(drop)})" if len(drop) else "")
            + _OUTER_HINT,
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
    if mesh.volume <= 0 and not outer_surface:
        raise BladeMeshError(f"blade mesh {source} encloses no volume ({mesh.volume:.3g} m^3)", "empty")
    for message in repairs:
        log.info("blade mesh %s: %s", source, message)
    mesh.metadata["repairs"] = repairs
    if labels_in is not None:
        # face labels follow their faces through the repairs; faces added to close pin holes: 'surface'
        labels = np.asarray(labels_in)
        surface = np.asarray(FACE_LABELS.index("surface"), dtype=labels.dtype)
        mesh.face_attributes["label"] = np.where(origin >= 0, labels[np.maximum(origin, 0)], surface)
    return mesh
