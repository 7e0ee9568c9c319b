"""The blade surface as small area elements: what coverage is measured on.

Large flat faces (platform, caps) are split until no edge exceeds ``element_size`` so "this face is
seen" is decided per patch, not for a whole 40 mm triangle. Every element remembers its parent face,
so the report can name the mesh faces that stay uncovered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from trimesh import remesh

from platform_control.blade.generator import face_labels
from platform_control.blade.spec import CLAMPED_LABELS, FACE_LABELS


@dataclass(frozen=True, eq=False)
class InspectionSurface:
    """Surface elements of one blade mesh in the blade frame.

    Shape: corners (E, 3, 3); centers, normals (E, 3); areas, parent, required (E,); labels (E,) of str.
    ``required`` is False for clamped faces (excluded from coverage).
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

    @classmethod
    def from_mesh(
        cls,
        mesh: trimesh.Trimesh,
        element_size: float = 0.003,
        clamped_labels: tuple[str, ...] = CLAMPED_LABELS,
    ) -> InspectionSurface:
        """Split the faces of ``mesh`` to ``element_size``; faces carrying a clamped label are not required.

        A mesh without face labels (e.g. a plain trimesh) counts every face as 'surface'.
        """
        if element_size <= 0:
            raise ValueError(f"element_size must be positive, got {element_size}")
        unknown = set(clamped_labels) - set(FACE_LABELS)
        if unknown:
            raise ValueError(f"unknown clamped labels {sorted(unknown)}; known: {FACE_LABELS}")
        try:
            face_label = face_labels(mesh)
        except ValueError:
            face_label = np.full(len(mesh.faces), "surface", dtype=object)
        verts, faces, index = remesh.subdivide_to_size(
            mesh.vertices, mesh.faces, max_edge=element_size, max_iter=20, return_index=True
        )
        tris = verts[faces]
        cross = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
        areas = 0.5 * np.linalg.norm(cross, axis=1)
        keep = areas > 0
        index = index[keep]
        labels = face_label[index]
        return cls(
            mesh=mesh,
            corners=tris[keep],
            centers=tris[keep].mean(axis=1),
            normals=mesh.face_normals[index],
            areas=areas[keep],
            parent=index,
            labels=labels,
            required=~np.isin(labels, list(clamped_labels)),
            clamped_labels=tuple(clamped_labels),
        )

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
        return float(self.areas[~self.required].sum())

    def parent_area(self, element_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mesh face indices, area per face) of the elements selected by ``element_mask``."""
        faces = self.parent[element_mask]
        areas = self.areas[element_mask]
        unique, inverse = np.unique(faces, return_inverse=True)
        return unique, np.bincount(inverse, weights=areas, minlength=len(unique))
