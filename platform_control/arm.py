"""Forward and inverse kinematics of the 6-DOF arm (standard Denavit-Hartenberg, from `ArmParams`).

`ArmKinematics.ik` returns *every* joint solution of a tool pose that lies within the joint limits,
including the ±2π "wrapped" copies of revolute joints whose range allows them, so a caller can choose
the configuration that suits the motion (`ik_nearest` picks the one nearest the current joints).
For arms with the UR geometry (three parallel middle axes, spherical-offset wrist) the solutions are
analytic — up to 8 before wrapping — and then polished by a Newton step to machine precision; any other
DH chain falls back to a multi-start bounded least-squares solve (scipy), which finds solutions but
cannot promise to find them all. A pose no configuration reaches raises `UnreachablePoseError`, which
says by how far (metres) it lies outside the workspace, or which limits block it.

Frames: `base` is the arm base in the world (from `CellLayout.arm_base`), `tool` the fingertip centre
relative to the flange (``ArmParams.tool['length']`` along flange z). Poses are 4x4 homogeneous matrices.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from platform_control.params import ArmParams, CellLayout
from platform_control.transforms import pose6_matrix, pose_error

TWO_PI = 2.0 * np.pi
FK_TOLERANCE = 1e-9  # m and rad: a solution must reproduce the pose this closely


class UnreachablePoseError(ValueError):
    """No joint configuration within limits reaches the pose.

    ``distance``: metres by which the pose lies outside the reachable workspace (0.0 when it is inside
    the workspace but every solution violates a joint limit).
    """

    def __init__(self, message: str, *, distance: float, pose: np.ndarray) -> None:
        super().__init__(message)
        self.distance = float(distance)
        self.pose = np.array(pose, dtype=float)


def _dh(theta: float, d: float, a: float, alpha: float) -> np.ndarray:
    ct, st, ca, sa = np.cos(theta), np.sin(theta), np.cos(alpha), np.sin(alpha)
    return np.array(
        [[ct, -st * ca, st * sa, a * ct], [st, ct * ca, -ct * sa, a * st], [0, sa, ca, d], [0, 0, 0, 1]]
    )


def _wrap_pi(x: np.ndarray | float) -> np.ndarray:
    return np.mod(np.asarray(x) + np.pi, TWO_PI) - np.pi


def _is_angle(value: float, target: float) -> bool:
    return abs(_wrap_pi(value - target)) < 1e-9


class ArmKinematics:
    """Kinematic model of a 6-DOF DH arm placed in the cell."""

    def __init__(self, params: ArmParams, base: np.ndarray | None = None, tool: np.ndarray | None = None):
        self.params = params
        self.joint_names: tuple[str, ...] = tuple(params.joint_names)
        self.dh = np.array(params.dh, dtype=float)
        limits = np.array(params.joint_limits, dtype=float)
        self.lower, self.upper = limits[:, 0], limits[:, 1]
        self.max_velocity = np.array(params.max_velocity, dtype=float)
        self.max_acceleration = np.array(params.max_acceleration, dtype=float)
        self.base = np.eye(4) if base is None else np.asarray(base, dtype=float)
        if tool is None:
            tool = np.eye(4)
            tool[2, 3] = float(params.tool.get("length", 0.0))
        self.tool = np.asarray(tool, dtype=float)
        self._base_inv = np.linalg.inv(self.base)
        self._tool_inv = np.linalg.inv(self.tool)
        self.analytic = self._has_ur_geometry()

    @classmethod
    def in_cell(cls, params: ArmParams, layout: CellLayout) -> ArmKinematics:
        """The arm standing at ``layout.arm_base`` with the gripper from ``params.tool``."""
        return cls(params, base=pose6_matrix(layout.arm_base))

    def __repr__(self) -> str:
        solver = "analytic" if self.analytic else "numeric"
        return f"ArmKinematics({self.params.name!r}, ik={solver}, base={self.base[:3, 3].round(4).tolist()})"

    # ----------------------------------------------------------------------------------- forward
    def _check_q(self, q: Sequence[float] | np.ndarray) -> np.ndarray:
        arr = np.asarray(q, dtype=float).reshape(-1)
        if arr.shape != (6,) or not np.all(np.isfinite(arr)):
            raise ValueError(f"arm '{self.params.name}': joint vector must be 6 finite values, got {q!r}")
        return arr

    def link_frames(self, q: Sequence[float] | np.ndarray) -> np.ndarray:
        """World poses of base, joint frames 1..6 (flange) and tool. Shape: (8, 4, 4)."""
        q = self._check_q(q)
        frames = [self.base]
        for theta, (d, a, alpha) in zip(q, self.dh, strict=True):
            frames.append(frames[-1] @ _dh(theta, d, a, alpha))
        frames.append(frames[-1] @ self.tool)
        return np.array(frames)

    def fk(self, q: Sequence[float] | np.ndarray) -> np.ndarray:
        """World pose (4x4) of the tool for joints ``q`` (6,)."""
        q = self._check_q(q)
        out = self.base.copy()
        for theta, (d, a, alpha) in zip(q, self.dh, strict=True):
            out = out @ _dh(theta, d, a, alpha)
        return out @ self.tool

    def jacobian(self, q: Sequence[float] | np.ndarray) -> np.ndarray:
        """Geometric Jacobian (6, 6) of the tool point: rows [linear; angular] velocity, world frame."""
        frames = self.link_frames(q)
        tip = frames[-1][:3, 3]
        jac = np.empty((6, 6))
        for i in range(6):
            z, o = frames[i][:3, 2], frames[i][:3, 3]
            jac[:3, i] = np.cross(z, tip - o)
            jac[3:, i] = z
        return jac

    def within_limits(self, q: Sequence[float] | np.ndarray, tolerance: float = 1e-9) -> bool:
        q = self._check_q(q)
        return bool(np.all(q >= self.lower - tolerance) and np.all(q <= self.upper + tolerance))

    # ----------------------------------------------------------------------------------- inverse
    def ik(self, pose: np.ndarray, q_hint: Sequence[float] | None = None, *, wrap: bool = True) -> np.ndarray:
        """All joint solutions (M, 6) within limits whose tool pose equals ``pose`` (4x4, world).

        Sorted by Euclidean joint distance to ``q_hint`` when given. ``wrap=False`` returns only the
        representatives in (-π, π] (clipped to limits). Raises `UnreachablePoseError` if there is none.
        """
        pose = np.asarray(pose, dtype=float)
        if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
            raise ValueError(f"arm '{self.params.name}': pose must be a finite 4x4 matrix")
        hint = None if q_hint is None else self._check_q(q_hint)
        flange = self._base_inv @ pose @ self._tool_inv
        if self.analytic:
            base_solutions, distance = self._ik_analytic(flange, hint)
        else:
            base_solutions, distance = self._ik_numeric(flange, hint)
        if not base_solutions:
            raise UnreachablePoseError(
                f"arm '{self.params.name}': tool position {np.round(pose[:3, 3], 4).tolist()} lies "
                f"{distance:.4f} m outside the reachable workspace",
                distance=distance,
                pose=pose,
            )
        solutions = self._expand_within_limits(base_solutions, wrap)
        if not solutions:
            blocked = sorted({int(j) for s in base_solutions for j in self._violated_joints(s)})
            raise UnreachablePoseError(
                f"arm '{self.params.name}': tool position {np.round(pose[:3, 3], 4).tolist()} is in the "
                f"workspace but all {len(base_solutions)} configurations violate the limits of "
                f"{[self.joint_names[j] for j in blocked]}",
                distance=0.0,
                pose=pose,
            )
        out = np.array(solutions)
        if hint is not None:
            out = out[np.argsort(np.linalg.norm(out - hint, axis=1), kind="stable")]
        return out

    def ik_nearest(self, pose: np.ndarray, q_current: Sequence[float]) -> np.ndarray:
        """The solution (6,) of ``pose`` nearest ``q_current`` (Euclidean joint distance)."""
        return self.ik(pose, q_hint=q_current)[0]

    def _violated_joints(self, q: np.ndarray) -> list[int]:
        return [j for j in range(6) if not self._wrap_candidates(q[j], j)]

    def _wrap_candidates(self, value: float, j: int) -> list[float]:
        base = float(_wrap_pi(value))
        cands = [base + k * TWO_PI for k in range(-3, 4)]
        return [c for c in cands if self.lower[j] - 1e-12 <= c <= self.upper[j] + 1e-12]

    def _expand_within_limits(self, solutions: list[np.ndarray], wrap: bool) -> list[np.ndarray]:
        """Every wrap variant within limits (base solutions are distinct modulo 2π, so variants are too)."""
        out: list[np.ndarray] = []
        for sol in solutions:
            per_joint = [self._wrap_candidates(sol[j], j) for j in range(6)]
            if not all(per_joint):
                continue
            if not wrap:
                per_joint = [[min(c, key=abs)] for c in per_joint]
            grid = np.array(list(itertools.product(*per_joint)))
            out.extend(np.clip(grid, self.lower, self.upper))
        return out

    def _polish(self, q: np.ndarray, flange_target: np.ndarray) -> np.ndarray | None:
        """Newton-refine a candidate; None if it does not reproduce the target flange pose."""
        target = self.base @ flange_target @ self.tool
        for _ in range(4):
            current = self.fk(q)
            dp, dr = pose_error(current, target)
            if dp < 1e-13 and dr < 1e-13:
                break
            rot = Rotation.from_matrix(target[:3, :3] @ current[:3, :3].T).as_rotvec()
            err = np.concatenate([target[:3, 3] - current[:3, 3], rot])
            q = q + np.linalg.lstsq(self.jacobian(q), err, rcond=1e-10)[0]
        dp, dr = pose_error(self.fk(q), target)
        return q if dp < FK_TOLERANCE and dr < FK_TOLERANCE else None

    # ------------------------------------------------------------------------------- analytic (UR)
    def _has_ur_geometry(self) -> bool:
        d, a, alpha = self.dh[:, 0], self.dh[:, 1], self.dh[:, 2]
        return bool(
            abs(a[0]) < 1e-12
            and abs(abs(np.sin(alpha[0])) - 1) < 1e-9
            and _is_angle(alpha[1], 0)
            and _is_angle(alpha[2], 0)
            and abs(abs(np.sin(alpha[3])) - 1) < 1e-9
            and abs(abs(np.sin(alpha[4])) - 1) < 1e-9
            and _is_angle(alpha[5], 0)
            and np.all(np.abs(a[3:]) < 1e-12)
            and abs(a[1]) > 1e-6
            and abs(a[2]) > 1e-6
            and abs(d[5]) > 1e-9
        )

    def _ik_analytic(self, T: np.ndarray, hint: np.ndarray | None) -> tuple[list[np.ndarray], float]:
        """Up to 8 solutions of the flange pose ``T`` (arm base frame), and the reach deficit if none."""
        d, a, alpha = self.dh[:, 0], self.dh[:, 1], self.dh[:, 2]
        s1, s4, s5a = np.sin(alpha[0]), np.sin(alpha[3]), np.sin(alpha[4])
        kappa = -s4 * s5a
        offset = d[1] + d[2] + d[3]
        p05 = T[:3, 3] - d[5] * T[:3, 2]
        r = float(np.hypot(p05[0], p05[1]))
        if r < abs(offset) - 1e-12:
            return [], abs(offset) - r
        phi = float(np.arctan2(p05[1], p05[0]))
        asin = float(np.arcsin(np.clip(s1 * offset / r, -1.0, 1.0))) if r > 0 else 0.0
        solutions: list[np.ndarray] = []
        deficit = np.inf
        for th1 in (phi + asin, phi + np.pi - asin):
            T16 = np.linalg.inv(_dh(th1, d[0], a[0], alpha[0])) @ T
            c5 = float(np.clip(T16[2, 2] / kappa, -1.0, 1.0))
            for th5 in {float(np.arccos(c5)), -float(np.arccos(c5))}:
                sn5 = np.sin(th5)
                if abs(sn5) < 1e-10:  # wrist singularity: only theta4 + theta6 is determined
                    th6 = float(hint[5]) if hint is not None else 0.0
                else:
                    th6 = float(np.arctan2(-T16[2, 1] / (s4 * sn5), T16[2, 0] / (s4 * sn5)))
                T45 = _dh(th5, d[4], a[4], alpha[4]) @ _dh(th6, d[5], a[5], alpha[5])
                T14 = T16 @ np.linalg.inv(T45)
                th234 = float(np.arctan2(T14[1, 0], T14[0, 0]))
                x, y = T14[0, 3], T14[1, 3]
                reach = float(np.hypot(x, y))
                c3 = (x * x + y * y - a[1] ** 2 - a[2] ** 2) / (2 * a[1] * a[2])
                if abs(c3) > 1 + 1e-9:
                    deficit = min(
                        deficit,
                        reach - (abs(a[1]) + abs(a[2])) if c3 > 0 else abs(abs(a[1]) - abs(a[2])) - reach,
                    )
                    continue
                c3 = float(np.clip(c3, -1.0, 1.0))
                for th3 in {float(np.arccos(c3)), -float(np.arccos(c3))}:
                    th2 = float(np.arctan2(y, x) - np.arctan2(a[2] * np.sin(th3), a[1] + a[2] * np.cos(th3)))
                    th4 = th234 - th2 - th3
                    q = _wrap_pi(np.array([th1, th2, th3, th4, th5, th6]))
                    polished = self._polish(q, T)
                    if polished is not None and not any(
                        np.max(np.abs(_wrap_pi(polished - s))) < 1e-9 for s in solutions
                    ):
                        solutions.append(polished)
        return solutions, (0.0 if solutions else max(float(deficit), 0.0))

    # ------------------------------------------------------------------------------------- numeric
    def _ik_numeric(
        self, T: np.ndarray, hint: np.ndarray | None, seeds: int = 32
    ) -> tuple[list[np.ndarray], float]:
        """Multi-start bounded least squares on position + rotation-vector error.

        If nothing converges, the reported distance is the smallest position error reachable with the
        target orientation held (rotation error weighted 1000x), like the analytic solver's deficit.
        """
        target = self.base @ T @ self.tool

        def residual(q: np.ndarray, w_rot: float = 1.0) -> np.ndarray:
            cur = self.fk(q)
            rot = Rotation.from_matrix(cur[:3, :3] @ target[:3, :3].T).as_rotvec()
            return np.concatenate([cur[:3, 3] - target[:3, 3], w_rot * rot])

        def jac(q: np.ndarray, w_rot: float = 1.0) -> np.ndarray:
            out = self.jacobian(q)
            out[3:] *= w_rot
            return out

        rng = np.random.default_rng(0)
        lo = np.maximum(self.lower, -np.pi)
        hi = np.minimum(self.upper, np.pi)
        starts = [np.clip(hint, self.lower, self.upper)] if hint is not None else []
        starts += list(rng.uniform(lo, hi, size=(seeds, 6)))
        solutions: list[np.ndarray] = []
        fits = []
        opts = {
            "bounds": (self.lower, self.upper),
            "xtol": 1e-15,
            "ftol": 1e-15,
            "gtol": 1e-15,
            "max_nfev": 200,
        }
        for q0 in starts:
            res = least_squares(residual, q0, jac=jac, **opts)
            fits.append((float(np.linalg.norm(res.fun)), res.x))
            polished = self._polish(res.x, T)
            if polished is not None and not any(
                np.max(np.abs(_wrap_pi(polished - s))) < 1e-6 for s in solutions
            ):
                solutions.append(polished)
        if solutions:
            return solutions, 0.0
        best = np.inf
        for _, q0 in sorted(fits, key=lambda f: f[0])[:8]:
            res = least_squares(residual, q0, jac=jac, args=(1e3,), **opts)
            best = min(best, float(np.linalg.norm(res.fun[:3])))
        return solutions, best
