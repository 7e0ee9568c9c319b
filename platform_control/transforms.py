"""4x4 homogeneous poses: built from the parameter files' [x, y, z, roll, pitch, yaw] and compared.

One definition for the arm, the stage, the camera and the simulator, so a layout pose means the same
transform everywhere (fixed-axis XYZ as in URDF: R = Rz(yaw) Ry(pitch) Rx(roll)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial.transform import Rotation


def pose_matrix(xyz: Sequence[float], rpy: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """4x4 transform from a position and fixed-axis roll, pitch, yaw (R = Rz(yaw) Ry(pitch) Rx(roll))."""
    out = np.eye(4)
    out[:3, :3] = Rotation.from_euler("xyz", rpy).as_matrix()
    out[:3, 3] = xyz
    return out


def pose6_matrix(pose: Sequence[float]) -> np.ndarray:
    """4x4 transform of a cell-layout pose [x, y, z, roll, pitch, yaw]."""
    return pose_matrix(pose[:3], pose[3:6])


def pose_error(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(position error m, rotation error rad) between two 4x4 poses."""
    dp = float(np.linalg.norm(a[:3, 3] - b[:3, 3]))
    rel = a[:3, :3].T @ b[:3, :3]
    cos = (np.trace(rel) - 1.0) / 2.0
    # arccos is ill-conditioned near 0; use the norm of the skew part for small angles
    sin = 0.5 * np.linalg.norm([rel[2, 1] - rel[1, 2], rel[0, 2] - rel[2, 0], rel[1, 0] - rel[0, 1]])
    return dp, float(np.arctan2(sin, np.clip(cos, -1.0, 1.0)))
