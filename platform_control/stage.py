"""Kinematics of the 5-DOF blade stage: axis values <-> blade pose in the world and camera frames.

Chain (see PLATFORM_CONTRACT.md): stage base (cell_layout.stage_base) -> X, Y, Z linear carriage ->
A tilt axis (parallel to the base x axis) ``a_axis_height`` above the base at Z = 0 -> C rotary table,
its surface ``c_table_offset`` along the tilted table normal -> fixture, ``fixture_height`` above the
table: the blade frame origin (root clamp), blade span along +z of the blade frame.

    T_world_blade = T_base * Trans(X, Y, Z + a_axis_height) * Rx(A) * Trans(0, 0, c + f) * Rz(C)

The inverse puts a blade-frame point on the camera's focus point with a blade-frame direction
(usually the surface normal) pointing straight at the camera. Orientation has two branches
(A and C + pi); C is additionally free modulo 2 pi inside its +-360 deg range.
"""

from __future__ import annotations

import numpy as np

from platform_control.camera import camera_optical_pose
from platform_control.params import CameraParams, CellLayout, StageParams, load_camera_params
from platform_control.transforms import pose6_matrix

_AXIS_TOL = 1e-12


class StageLimitError(ValueError):
    """Axis values (or a requested viewpoint) outside the stage's travel."""

    def __init__(
        self,
        message: str,
        axis: str | None = None,
        value: float | None = None,
        limits: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(message)
        self.axis = axis
        self.value = value
        self.limits = limits


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _wrap(angle: float) -> float:
    return float((angle + np.pi) % (2 * np.pi) - np.pi)


class StageKinematics:
    """Forward and inverse kinematics of the stage relative to the fixed camera.

    Args:
        params: stage geometry, limits and speeds (stage_5axis.yaml).
        layout: where the stage base and the camera stand (cell_layout.yaml).
        camera: gives the working distance, hence the focus point; default: camera.yaml.
    """

    def __init__(self, params: StageParams, layout: CellLayout, camera: CameraParams | None = None) -> None:
        self.params = params
        self.layout = layout
        self.camera = camera if camera is not None else load_camera_params()
        self.axis_names = params.axis_names
        self.limits = np.array(params.limits, dtype=float)
        self.max_velocity = np.array(params.max_velocity, dtype=float)
        self.max_acceleration = np.array(params.max_acceleration, dtype=float)
        self._world_from_base = pose6_matrix(layout.stage_base)
        self._base_from_world = np.linalg.inv(self._world_from_base)
        self.camera_pose = camera_optical_pose(layout)  # optical frame -> world
        self.view_axis = self.camera_pose[:3, 2].copy()  # world direction the camera looks along
        self.focus_point = self.camera_pose[:3, 3] + self.camera.working_distance * self.view_axis
        self._table_to_blade = params.c_table_offset + params.fixture_height

    # ------------------------------------------------------------------ forward
    def axes_to_blade_pose(self, axes: np.ndarray) -> np.ndarray:
        """4x4 transform blade frame -> world for axis values [X, Y, Z, A, C]."""
        x, y, z, a, c = self._axes(axes)
        base_from_blade = np.eye(4)
        ra = _rot_x(a)
        base_from_blade[:3, :3] = ra @ _rot_z(c)
        base_from_blade[:3, 3] = np.array([x, y, z + self.params.a_axis_height]) + ra @ np.array(
            [0.0, 0.0, self._table_to_blade]
        )
        return self._world_from_base @ base_from_blade

    def blade_point_to_world(self, axes: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Blade-frame point(s) (3,) or (N, 3) -> world coordinates, same shape."""
        pose = self.axes_to_blade_pose(axes)
        pts = np.asarray(points, dtype=float)
        return pts @ pose[:3, :3].T + pose[:3, 3]

    def blade_pose_in_camera(self, axes: np.ndarray) -> np.ndarray:
        """4x4 transform blade frame -> camera optical frame (z along the optical axis)."""
        return np.linalg.inv(self.camera_pose) @ self.axes_to_blade_pose(axes)

    def camera_in_blade(self, axes: np.ndarray) -> np.ndarray:
        """4x4 transform camera optical frame -> blade frame (where the camera is, seen from the blade)."""
        return np.linalg.inv(self.axes_to_blade_pose(axes)) @ self.camera_pose

    # ------------------------------------------------------------------ limits
    def within_limits(self, axes: np.ndarray, tol: float = _AXIS_TOL) -> bool:
        arr = self._axes(axes)
        return bool(np.all(arr >= self.limits[:, 0] - tol) and np.all(arr <= self.limits[:, 1] + tol))

    def check_limits(self, axes: np.ndarray, tol: float = _AXIS_TOL) -> None:
        """Raise `StageLimitError` naming every axis outside its travel (``.axis``: the worst one)."""
        arr = self._axes(axes)
        lo, hi = self.limits[:, 0], self.limits[:, 1]
        excess = np.maximum(lo - arr, arr - hi) / (hi - lo)
        bad = np.flatnonzero(excess > tol)
        if len(bad) == 0:
            return
        worst = int(bad[np.argmax(excess[bad])])
        parts = [
            f"stage axis {self.axis_names[i]} = {arr[i]:.6g} is outside its limits [{lo[i]:.6g}, {hi[i]:.6g}]"
            for i in bad[np.argsort(-excess[bad])]
        ]
        raise StageLimitError(
            "; ".join(parts) + f" (stage '{self.params.name}')",
            axis=self.axis_names[worst],
            value=float(arr[worst]),
            limits=(float(lo[worst]), float(hi[worst])),
        )

    # ------------------------------------------------------------------ inverse
    def viewpoint_solutions(
        self, point_b: np.ndarray, view_dir_b: np.ndarray, c_hint: float = 0.0
    ) -> list[np.ndarray]:
        """Every axis solution of a viewpoint, C over its whole range; X..A limits not checked.

        ``view_dir_b`` is the blade-frame direction from the surface point towards the camera. When it
        lies along the C axis, C is free and ``c_hint`` (clipped to the C range) is used.
        """
        p = np.asarray(point_b, dtype=float).reshape(3)
        v = np.asarray(view_dir_b, dtype=float).reshape(3)
        norm = np.linalg.norm(v)
        if not np.isfinite(norm) or norm < 1e-12 or not np.all(np.isfinite(p)):
            raise ValueError(f"viewpoint needs a finite point and a non-zero direction, got {p}, {v}")
        v = v / norm
        u = self._base_from_world[:3, :3] @ (-self.view_axis)  # towards the camera, stage-base frame
        r = float(np.hypot(v[0], v[1]))
        if r < abs(u[0]) - 1e-12:
            return []
        lo, hi = self.limits[4]
        if r < 1e-12:  # direction along the C axis: any C works
            c_values = [float(np.clip(c_hint, lo, hi))]
        else:
            phi = np.arctan2(v[1], v[0])
            alpha = float(np.arccos(np.clip(u[0] / r, -1.0, 1.0)))
            base = {_wrap(alpha - phi), _wrap(-alpha - phi)}
            c_values = [c + 2 * np.pi * k for c in base for k in range(-3, 4)]
            c_values = [c for c in c_values if lo - _AXIS_TOL <= c <= hi + _AXIS_TOL]
        out = []
        for c in c_values:
            w = _rot_z(c) @ v
            a = _wrap(np.arctan2(u[2], u[1]) - np.arctan2(w[2], w[1]))
            out.append(np.concatenate([self._carriage_for(p, a, c), [a, c]]))
        return out

    def viewpoint_to_axes(
        self, point_b: np.ndarray, view_dir_b: np.ndarray, current: np.ndarray | None = None
    ) -> np.ndarray:
        """Axis values (5,) putting ``point_b`` on the focus point with ``view_dir_b`` facing the camera.

        Among the solutions within limits, the one nearest ``current`` (default: all zeros, distance
        in seconds at full speed) is returned. Raises `StageLimitError` naming the offending axis.
        """
        ref = np.zeros(5) if current is None else self._axes(current)
        sols = self.viewpoint_solutions(point_b, view_dir_b, c_hint=ref[4])
        where = f"viewpoint at {np.round(np.asarray(point_b, float), 6).tolist()} (blade frame)"
        if not sols:
            raise StageLimitError(f"{where} cannot face the camera along {np.asarray(view_dir_b).tolist()}")
        ok = [s for s in sols if self.within_limits(s)]
        if ok:
            return min(ok, key=lambda s: float(np.sum(((s - ref) / self.max_velocity) ** 2)))
        span = self.limits[:, 1] - self.limits[:, 0]

        def excess(s: np.ndarray) -> float:
            return float((np.maximum(self.limits[:, 0] - s, s - self.limits[:, 1]) / span).max())

        best = min(sols, key=excess)
        try:
            self.check_limits(best)
        except StageLimitError as exc:
            raise StageLimitError(
                f"{where} is unreachable: {exc}", axis=exc.axis, value=exc.value, limits=exc.limits
            ) from None
        raise AssertionError("a solution outside the limits passed check_limits")  # pragma: no cover

    def _carriage_for(self, point_b: np.ndarray, a: float, c: float) -> np.ndarray:
        """X, Y, Z bringing blade point ``point_b`` onto the focus point at tilt ``a`` and rotation ``c``."""
        focus_base = self._base_from_world[:3, :3] @ self.focus_point + self._base_from_world[:3, 3]
        xyz = focus_base - _rot_x(a) @ (np.array([0.0, 0.0, self._table_to_blade]) + _rot_z(c) @ point_b)
        xyz[2] -= self.params.a_axis_height
        return xyz

    def _axes(self, axes: np.ndarray) -> np.ndarray:
        arr = np.asarray(axes, dtype=float).reshape(-1)
        if arr.shape != (5,) or not np.all(np.isfinite(arr)):
            raise ValueError(f"stage axes must be 5 finite values {self.axis_names}, got {arr.tolist()}")
        return arr

    def __repr__(self) -> str:
        return f"StageKinematics({self.params.name}, focus point {np.round(self.focus_point, 4).tolist()} m)"
