"""Fewer triangles for display: vertex clustering down to a face budget.

The blade map only draws the blade (inspection never uses this); a plant's CAD mesh can have millions
of triangles, the page wants tens of thousands. Clustering merges vertices on a grid (each cluster at
its vertices' mean) and drops the triangles that collapse; the grid is refined from coarse to fine
until the budget would be exceeded, so the result keeps as much detail as the budget allows.
"""

from __future__ import annotations

import numpy as np


def cluster_vertices(vertices: np.ndarray, faces: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices on a `cells`-per-longest-side grid; returns (vertices, faces) without collapsed
    or duplicate triangles."""
    v = np.asarray(vertices, float)
    lo = v.min(axis=0)
    size = float((v.max(axis=0) - lo).max()) / cells or 1.0
    keys = np.floor((v - lo) / size).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    merged = np.zeros((len(counts), 3))
    np.add.at(merged, inverse, v)
    merged /= counts[:, None]
    f = inverse[np.asarray(faces)]
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    f = f[keep]
    _, first = np.unique(np.sort(f, axis=1), axis=0, return_index=True)
    f = f[np.sort(first)]
    used, f = np.unique(f, return_inverse=True)
    return merged[used], f.reshape(-1, 3)


def decimate(vertices: np.ndarray, faces: np.ndarray, max_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """The mesh itself when within `max_faces`, else the finest clustering that fits."""
    if max_faces < 4:
        raise ValueError(f"max_faces must be at least 4, got {max_faces}")
    if len(faces) <= max_faces:
        return np.asarray(vertices, float), np.asarray(faces)
    best = None
    for cells in (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024):
        v, f = cluster_vertices(vertices, faces, cells)
        if len(f) > max_faces:
            break
        best = (v, f)
    if best is None:
        raise ValueError(f"cannot decimate to {max_faces} faces even on the coarsest grid")
    return best
