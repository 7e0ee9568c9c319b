"""Random, seeded placement of synthetic defects on a blade mesh.

Defects go on the inspectable surface (root faces held by the fixture excluded); nicks go on the
leading or trailing edge, found per span height as the extreme points of the section along its chord.
Anchors of different defects keep apart so masks rarely overlap (where they do, the later defect wins).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import trimesh

from platform_control.sim.defects import Defect, DefectsConfig, SurfaceFrame, load_defects_config, make_defect


class BladeSurface:
    """Sampling helpers on a blade mesh (blade frame: root at the origin, span along +z).

    Args:
        mesh: the blade.
        inspectable_faces: bool (F,) or face indices where defects may go; default: every face above the
            lowest `root_fraction` of the span (a generic guess at root + platform).
    """

    def __init__(
        self, mesh: trimesh.Trimesh, inspectable_faces: np.ndarray | None = None, root_fraction: float = 0.25
    ) -> None:
        if len(mesh.faces) == 0:
            raise ValueError("blade mesh has no faces")
        self.mesh = mesh
        if inspectable_faces is None:
            zmin, zmax = mesh.bounds[:, 2]
            centroid_z = mesh.triangles_center[:, 2]
            allowed = centroid_z > zmin + root_fraction * (zmax - zmin)
        elif np.asarray(inspectable_faces).dtype == bool:
            allowed = np.asarray(inspectable_faces, bool)
            if allowed.shape != (len(mesh.faces),):
                raise ValueError(
                    f"inspectable_faces mask has {allowed.size} entries for {len(mesh.faces)} faces"
                )
        else:
            allowed = np.zeros(len(mesh.faces), bool)
            allowed[np.asarray(inspectable_faces, dtype=int)] = True
        if not allowed.any():
            raise ValueError("blade mesh has no inspectable faces to put defects on")
        self.allowed = allowed
        self._faces = np.flatnonzero(allowed)
        areas = mesh.area_faces[self._faces]
        self._cdf = np.cumsum(areas) / areas.sum()
        zs = mesh.triangles_center[self._faces, 2]
        self.z_range = (float(zs.min()), float(zs.max()))

    def sample_point(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A uniformly distributed (area-weighted) point on the inspectable surface and its normal."""
        face = self._faces[min(int(np.searchsorted(self._cdf, rng.random())), len(self._faces) - 1)]
        a, b = rng.random(2)
        if a + b > 1:
            a, b = 1 - a, 1 - b
        tri = self.mesh.triangles[face]
        point = tri[0] + a * (tri[1] - tri[0]) + b * (tri[2] - tri[0])
        return point, self._smooth_normal(face, point)

    def sample_edge_point(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A point on the leading or trailing edge and the in-section direction pointing out of the edge."""
        verts = self.mesh.vertices
        lo, hi = self.z_range
        for _ in range(50):
            z0 = rng.uniform(lo + 0.1 * (hi - lo), hi - 0.05 * (hi - lo))
            slab = np.flatnonzero(np.abs(verts[:, 2] - z0) < 0.004 * max(hi - lo, 1e-3) + 5e-4)
            if len(slab) < 8:
                continue
            xy = verts[slab, :2]
            centre = xy.mean(axis=0)
            _, _, vt = np.linalg.svd(xy - centre, full_matrices=False)
            chord = vt[0]
            proj = (xy - centre) @ chord
            k = int(np.argmax(proj)) if rng.random() < 0.5 else int(np.argmin(proj))
            point = verts[slab[k]].copy()
            out = np.append(chord * np.sign(proj[k]), 0.0)
            return point, out
        raise ValueError("cannot find blade edges: the mesh has no well-sampled sections along its span")

    def _smooth_normal(self, face: int, point: np.ndarray) -> np.ndarray:
        tri = self.mesh.triangles[face]
        bary = trimesh.triangles.points_to_barycentric(tri[None], point[None])[0]
        normal = bary @ self.mesh.vertex_normals[self.mesh.faces[face]]
        norm = np.linalg.norm(normal)
        return normal / norm if norm > 1e-9 else self.mesh.face_normals[face]


def sample_defects(
    surface: BladeSurface,
    rng: np.random.Generator,
    count: int | tuple[int, int] = (3, 8),
    classes: Sequence[str] | None = None,
    config: DefectsConfig | None = None,
    max_tries: int = 200,
) -> list[Defect]:
    """`count` (or a random count in the inclusive range) defects of random classes, kept apart."""
    config = config or load_defects_config()
    kinds = list(classes) if classes is not None else list(config.classes[1:])
    for kind in kinds:
        config.of(kind)
    n = count if isinstance(count, int) else int(rng.integers(count[0], count[1] + 1))
    placed: list[Defect] = []
    for i in range(n):
        kind = kinds[i % len(kinds)] if classes is not None else kinds[int(rng.integers(len(kinds)))]
        for _ in range(max_tries):
            if kind == "nick":
                point, normal = surface.sample_edge_point(rng)
            else:
                point, normal = surface.sample_point(rng)
            defect = make_defect(kind, SurfaceFrame.at(point, normal, rng), config, rng)
            if all(np.linalg.norm(point - d.frame.center) > 0.8 * (defect.bound + d.bound) for d in placed):
                placed.append(defect)
                break
        else:
            raise ValueError(f"no room for defect {i} ({kind}) on the blade after {max_tries} tries")
    return placed
