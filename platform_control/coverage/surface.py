"""The blade surface as area elements of a fixed size: what coverage is measured on.

Elements come from the surface area, not from the triangulation: points are sampled uniformly by
area (``samples_per_element`` per element on average), grouped into cubes of ``element_size`` and
bins of normal direction (42 directions, ~30 deg apart, so the two sides of a thin trailing edge stay
apart), and each group becomes one element whose area is its share of the samples. A CAD export with
span-long sliver triangles and a finely remeshed copy of the same part give the same elements; 400k
faces cost only the sampling. Every element keeps the mesh face of its centre point, so the report
can name the faces that stay uncovered.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import trimesh

from platform_control.blade.generator import face_labels
from platform_control.blade.spec import CLAMPED_LABELS, FACE_LABELS

_NORMAL_BINS = trimesh.creation.icosphere(subdivisions=1).vertices  # 42 directions


@dataclass(frozen=True, eq=False)
class InspectionSurface:
    """Surface elements of one blade mesh in the blade frame.

    Shape: corners (E, 3, 3) (a tangent triangle as large as the element); centers, normals (E, 3);
    areas, parent, required (E,); labels (E,) of str. ``required`` is False for clamped faces.
    """

    mesh: trimesh.Trimesh
    corners: np.ndarray
    centers: np.ndarray
    normals: np.ndarray
    areas: np.ndarray
    parent: np.ndarray
    labels: np.ndarray
    required: np.ndarray
    clamped_labels: tuple[str, ...]
    hidden: np.ndarray | None = None  # (E,) bool: excluded as hidden from outside (outer-surface plans)

    @classmethod
    def from_mesh(
        cls,
        mesh: trimesh.Trimesh,
        element_size: float = 0.003,
        clamped_labels: tuple[str, ...] = CLAMPED_LABELS,
        *,
        samples_per_element: int = 8,
        seed: int = 0,
    ) -> InspectionSurface:
        """Elements about ``element_size`` across over the whole area; clamped-label faces not required.

        A mesh without face labels (e.g. a plain trimesh) counts every face as 'surface'.
        """
        if element_size <= 0:
            raise ValueError(f"element_size must be positive, got {element_size}")
        if samples_per_element < 1:
            raise ValueError(f"samples_per_element must be >= 1, got {samples_per_element}")
        unknown = set(clamped_labels) - set(FACE_LABELS)
        if unknown:
            raise ValueError(f"unknown clamped labels {sorted(unknown)}; known: {FACE_LABELS}")
        if len(mesh.faces) == 0 or mesh.area <= 0:
            raise ValueError("mesh has no surface area to inspect")
        try:
            face_label = face_labels(mesh)
        except ValueError:
            face_label = np.full(len(mesh.faces), "surface", dtype=object)
        n_samples = max(1000, int(samples_per_element * mesh.area / element_size**2))
        points, face = trimesh.sample.sample_surface(mesh, n_samples, seed=seed)
        normals = mesh.face_normals[face]
        cell = np.floor(points / element_size).astype(np.int64)
        keys = np.column_stack([cell, np.argmax(normals @ _NORMAL_BINS.T, axis=1)])
        _, group = np.unique(keys, axis=0, return_inverse=True)
        group = group.reshape(-1)
        n = int(group.max()) + 1
        count = np.bincount(group, minlength=n)
        mean = np.column_stack([np.bincount(group, weights=points[:, k], minlength=n) for k in range(3)])
        mean /= count[:, None]
        # centre: the sample nearest the group's mean (a point on the surface, with a real face)
        dist = np.linalg.norm(points - mean[group], axis=1)
        order = np.lexsort((dist, group))
        first = order[np.searchsorted(group[order], np.arange(n))]
        radius = np.zeros(n)
        np.maximum.at(radius, group, np.linalg.norm(points - points[first][group], axis=1))
        centers, parent = points[first], face[first]
        elem_normals = mesh.face_normals[parent]
        labels = face_label[parent]
        return cls(
            mesh=mesh,
            corners=_tangent_triangles(centers, elem_normals, np.maximum(radius, 0.25 * element_size)),
            centers=centers,
            normals=elem_normals,
            areas=count * (mesh.area / n_samples),
            parent=parent,
            labels=labels,
            required=~np.isin(labels, list(clamped_labels)),
            clamped_labels=tuple(clamped_labels),
        )

    def without_hidden(self, exposed: np.ndarray) -> InspectionSurface:
        """Copy whose elements not in ``exposed`` (E,) bool are no longer required, marked hidden."""
        hidden = ~np.asarray(exposed, dtype=bool) & self.required
        return replace(self, required=self.required & ~hidden, hidden=hidden)

    @property
    def hidden_area(self) -> float:
        """Area left out as hidden from outside (0 unless `without_hidden` made this surface)."""
        return 0.0 if self.hidden is None else float(self.areas[self.hidden].sum())

    def __len__(self) -> int:
        return len(self.areas)

    @property
    def total_area(self) -> float:
        return float(self.areas.sum())

    @property
    def required_area(self) -> float:
        """Area that must be inspected (clamped faces excluded)."""
        return float(self.areas[self.required].sum())

    @property
    def excluded_area(self) -> float:
        """Area excluded as clamped (hidden area, if any, is counted in `hidden_area`)."""
        return float(self.areas[~self.required].sum()) - self.hidden_area

    def parent_area(self, element_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mesh face indices, area per face) of the elements selected by ``element_mask``."""
        faces = self.parent[element_mask]
        areas = self.areas[element_mask]
        unique, inverse = np.unique(faces, return_inverse=True)
        return unique, np.bincount(inverse, weights=areas, minlength=len(unique))


def _tangent_triangles(centers: np.ndarray, normals: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """(E, 3, 3) equilateral triangles in each element's tangent plane, circumradius ``radius``."""
    helper = np.where(np.abs(normals[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(normals, helper)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(normals, e1)
    angles = np.deg2rad([90.0, 210.0, 330.0])
    offsets = np.cos(angles)[None, :, None] * e1[:, None] + np.sin(angles)[None, :, None] * e2[:, None]
    return centers[:, None, :] + radius[:, None, None] * offsets
