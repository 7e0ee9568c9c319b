"""The compact blade mesh format the blade map loads: one binary file, read with two typed arrays.

Layout (little-endian): the ASCII magic ``BCMESH1\\n``, a uint32 header length, a UTF-8 JSON header
(``vertex_count``, ``face_count``, ``units``: "mm", ``bounds``) padded with spaces to a multiple of 4
bytes, then float32 vertices (x, y, z) and uint32 faces (three vertex indices). A 4,000-triangle
blade is about 70 kB, so the page needs no mesh library: `new Float32Array(buffer, offset, n * 3)`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

from .errors import InvalidInputError

MAGIC = b"BCMESH1\n"
MAX_FACES = 200_000


@dataclass(frozen=True)
class BladeMesh:
    vertices: np.ndarray  # (N, 3) float32, mm, blade frame
    faces: np.ndarray  # (M, 3) uint32


def encode(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """Vertices (N, 3) in mm and faces (M, 3) -> the binary file; bad shapes or indices are refused."""
    v = np.ascontiguousarray(vertices, dtype="<f4")
    f = np.ascontiguousarray(faces, dtype="<u4")
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise InvalidInputError("vertices", f"need an (N, 3) array, got shape {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise InvalidInputError("faces", f"need an (M, 3) array, got shape {f.shape}")
    if len(f) > MAX_FACES:
        raise InvalidInputError("faces", f"{len(f)} faces; decimate to at most {MAX_FACES} first")
    if int(f.max()) >= len(v):
        raise InvalidInputError("faces", f"index {int(f.max())} past the {len(v)} vertices")
    if not np.isfinite(v).all():
        raise InvalidInputError("vertices", "not finite")
    header = {
        "vertex_count": len(v),
        "face_count": len(f),
        "units": "mm",
        "bounds": [v.min(axis=0).round(4).tolist(), v.max(axis=0).round(4).tolist()],
    }
    text = json.dumps(header).encode()
    text += b" " * (-(len(MAGIC) + 4 + len(text)) % 4)
    return MAGIC + struct.pack("<I", len(text)) + text + v.tobytes() + f.tobytes()


def decode(data: bytes) -> tuple[dict, BladeMesh]:
    """The inverse of `encode` (tests, tools)."""
    if not data.startswith(MAGIC):
        raise InvalidInputError("mesh", "not a BladeCell mesh file")
    (length,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4
    header = json.loads(data[start : start + length])
    offset = start + length
    n, m = header["vertex_count"], header["face_count"]
    vertices = np.frombuffer(data, "<f4", n * 3, offset).reshape(n, 3)
    faces = np.frombuffer(data, "<u4", m * 3, offset + n * 12).reshape(m, 3)
    return header, BladeMesh(vertices, faces)
