"""Pinhole model of the fixed inspection camera and its optical working envelope.

The coverage planner asks one question many times: *is this surface patch imaged sharply, head-on
enough and inside the usable part of the frame?* `PinholeCamera` answers it for points and normals
given in the camera's optical frame (ROS convention: z along the optical axis, x to the image right,
y down). Usable frame = the central ``1 - overlap`` of each image dimension, so two views whose usable
areas touch share ``overlap`` of the field of view, as the camera parameters promise.
"""

from __future__ import annotations

import numpy as np

from platform_control.params import CameraParams, CellLayout
from platform_control.transforms import pose6_matrix

# Optical frame (z forward, x right, y down) expressed in the camera body frame (x forward, z up).
_BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def camera_optical_pose(layout: CellLayout) -> np.ndarray:
    """4x4 transform camera optical frame -> world (the layout stores the camera body pose)."""
    world_from_body = pose6_matrix(layout.camera)
    out = world_from_body.copy()
    out[:3, :3] = world_from_body[:3, :3] @ _BODY_FROM_OPTICAL
    return out


class PinholeCamera:
    """Intrinsics, projection and the in-focus / incidence / footprint tests of one camera.

    Shape conventions: points and normals are (N, 3) arrays in the optical frame, metres.
    """

    def __init__(self, params: CameraParams) -> None:
        self.params = params
        self.width = params.width_px
        self.height = params.height_px
        self.focal_px = params.focal_length_px
        self.working_distance = params.working_distance
        self.depth_of_field = params.depth_of_field
        self.max_incidence = np.deg2rad(params.max_incidence_deg)
        self.overlap = params.overlap
        # Half-extent of the usable frame in normalised image coordinates (x/z, y/z).
        usable = 1.0 - params.overlap
        self._half_tan = (0.5 * self.width / self.focal_px, 0.5 * self.height / self.focal_px)
        self._usable_half_tan = (usable * self._half_tan[0], usable * self._half_tan[1])

    @property
    def intrinsics(self) -> np.ndarray:
        """3x3 matrix K, principal point at the image centre."""
        return np.array(
            [[self.focal_px, 0.0, self.width / 2.0], [0.0, self.focal_px, self.height / 2.0], [0.0, 0.0, 1.0]]
        )

    def field_of_view(self, distance: float | None = None) -> tuple[float, float]:
        """Width and height (m) of the full frame on a plane ``distance`` in front (default: focus plane)."""
        d = self.working_distance if distance is None else distance
        return 2 * self._half_tan[0] * d, 2 * self._half_tan[1] * d

    def usable_field_of_view(self, distance: float | None = None) -> tuple[float, float]:
        """Width and height (m) of the usable frame (overlap margins removed) on the plane at ``distance``."""
        d = self.working_distance if distance is None else distance
        return 2 * self._usable_half_tan[0] * d, 2 * self._usable_half_tan[1] * d

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N, 2) of optical-frame points (N, 3); points behind the camera give NaN."""
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        z = pts[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = self.focal_px * pts[:, :2] / z[:, None] + (self.width / 2.0, self.height / 2.0)
        uv[z <= 0] = np.nan
        return uv

    def pixel_rays(self, uv: np.ndarray) -> np.ndarray:
        """Unit viewing rays (N, 3) in the optical frame through pixel coordinates (N, 2)."""
        uv = np.atleast_2d(np.asarray(uv, dtype=float))
        xy = (uv - (self.width / 2.0, self.height / 2.0)) / self.focal_px
        rays = np.column_stack([xy, np.ones(len(xy))])
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def in_frame(self, points: np.ndarray, usable: bool = True) -> np.ndarray:
        """True where a point projects inside the (usable, by default) frame."""
        pts = np.atleast_2d(points)
        tx, ty = self._usable_half_tan if usable else self._half_tan
        z = pts[:, 2]
        return (z > 0) & (np.abs(pts[:, 0]) <= tx * z) & (np.abs(pts[:, 1]) <= ty * z)

    def in_focus(self, points: np.ndarray) -> np.ndarray:
        """True where a point lies within the depth of field around the focus plane."""
        z = np.atleast_2d(points)[:, 2]
        return np.abs(z - self.working_distance) <= 0.5 * self.depth_of_field

    def incidence(self, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        """Angle (rad) between each outward normal and the direction from its point to the camera."""
        pts = np.atleast_2d(points)
        to_cam = -pts / np.linalg.norm(pts, axis=1, keepdims=True)
        cos = np.einsum("ij,ij->i", to_cam, np.atleast_2d(normals))
        return np.arccos(np.clip(cos, -1.0, 1.0))

    def sees(self, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        """In the usable frame, in focus and within the incidence limit (occlusion is not checked here)."""
        ok = self.in_frame(points) & self.in_focus(points)
        out = np.zeros(len(ok), dtype=bool)
        idx = np.flatnonzero(ok)
        out[idx] = self.incidence(points[idx], normals[idx]) <= self.max_incidence
        return out

    def collides(self, points: np.ndarray) -> np.ndarray:
        """True where a point is inside the camera + light-ring envelope (or closer than the clearance).

        The envelope is a cylinder of ``housing_radius`` around the optical axis that reaches from
        ``min_clearance`` in front of the lens backwards.
        """
        pts = np.atleast_2d(points)
        radial = np.hypot(pts[:, 0], pts[:, 1])
        return (pts[:, 2] < self.params.min_clearance) & (radial < self.params.housing_radius)

    def __repr__(self) -> str:
        w, h = self.field_of_view()
        return (
            f"PinholeCamera({self.params.name}: {self.width}x{self.height} px, f={self.focal_px:.1f} px, "
            f"FOV {w * 1e3:.1f}x{h * 1e3:.1f} mm at {self.working_distance} m, "
            f"DOF {self.depth_of_field * 1e3:.1f} mm, incidence <= {self.params.max_incidence_deg} deg)"
        )
