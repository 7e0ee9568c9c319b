"""Time parameterisation of joint-space motion for the arm and the stage.

Every move here is *phase-synchronised*: all joints start and stop together and follow one common
trapezoidal (or triangular) speed profile along the straight joint-space segment between two waypoints.
The path a planner checked for collisions is therefore exactly the path the hardware drives, and the
time of a move is the minimum that respects every joint's velocity and acceleration limit on that path.
A corner between two non-collinear segments cannot be passed at speed without infinite acceleration,
so trajectories come to rest at every waypoint (collinear waypoints are merged first).

`JointTrajectory` stores knots (time, position, velocity, acceleration). Between knots the motion is
the cubic Hermite curve of the positions and velocities at both ends; for the constant-acceleration
phases produced here that curve is exact, so `sample` reproduces the planned motion with no
interpolation error. `accelerations[k]` is the acceleration in effect just after knot k.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_EPS = 1e-12


@dataclass(frozen=True, eq=False)
class JointTrajectory:
    """A time-parameterised joint trajectory.

    Shape:
        times: (N,), strictly increasing, seconds from the trajectory start (``times[0]`` is 0).
        positions, velocities, accelerations: (N, J) with J = ``len(joint_names)``.
    """

    joint_names: tuple[str, ...]
    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    accelerations: np.ndarray

    def __post_init__(self) -> None:
        times = np.asarray(self.times, dtype=float).reshape(-1)
        n, j = len(times), len(self.joint_names)
        arrays = {}
        for name in ("positions", "velocities", "accelerations"):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.shape != (n, j):
                raise ValueError(f"JointTrajectory.{name} has shape {arr.shape}, expected ({n}, {j})")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"JointTrajectory.{name} contains non-finite values")
            arrays[name] = arr
        if n == 0:
            raise ValueError("JointTrajectory needs at least one point")
        if n > 1 and not np.all(np.diff(times) > 0):
            raise ValueError("JointTrajectory.times must be strictly increasing")
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "times", times)
        for name, arr in arrays.items():
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        times.setflags(write=False)

    @property
    def duration(self) -> float:
        return float(self.times[-1] - self.times[0])

    @property
    def start(self) -> np.ndarray:
        return self.positions[0]

    @property
    def goal(self) -> np.ndarray:
        return self.positions[-1]

    def sample(self, t: float | np.ndarray) -> np.ndarray:
        """Positions at time(s) ``t`` (clamped to the trajectory). Shape: (J,) or (M, J)."""
        return self.sample_state(t)[0]

    def sample_state(self, t: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(positions, velocities, accelerations) at time(s) ``t``; each (J,) or (M, J)."""
        scalar = np.ndim(t) == 0
        tq = np.clip(np.atleast_1d(np.asarray(t, dtype=float)), self.times[0], self.times[-1])
        if len(self.times) == 1:
            shape = (len(tq), len(self.joint_names))
            pos = np.broadcast_to(self.positions[0], shape).copy()
            out = (pos, np.zeros(shape), np.zeros(shape))
        else:
            k = np.clip(np.searchsorted(self.times, tq, side="right") - 1, 0, len(self.times) - 2)
            h = (self.times[k + 1] - self.times[k])[:, None]
            u = ((tq - self.times[k])[:, None]) / h
            p0, p1 = self.positions[k], self.positions[k + 1]
            v0, v1 = self.velocities[k], self.velocities[k + 1]
            u2, u3 = u * u, u * u * u
            pos = (2 * u3 - 3 * u2 + 1) * p0 + (u3 - 2 * u2 + u) * h * v0 + (3 * u2 - 2 * u3) * p1
            pos += (u3 - u2) * h * v1
            vel = ((6 * u2 - 6 * u) * p0 + (6 * u - 6 * u2) * p1) / h
            vel += (3 * u2 - 4 * u + 1) * v0 + (3 * u2 - 2 * u) * v1
            acc = ((12 * u - 6) * p0 + (6 - 12 * u) * p1) / (h * h) + (
                (6 * u - 4) * v0 + (6 * u - 2) * v1
            ) / h
            out = (pos, vel, acc)
        return tuple(o[0] for o in out) if scalar else out  # type: ignore[return-value]

    def resample(self, dt: float) -> JointTrajectory:
        """The same motion with extra knots every ``dt`` seconds (all original knots kept, so exact)."""
        if dt <= 0:
            raise ValueError(f"resample: dt must be positive, got {dt}")
        grid = np.arange(self.times[0], self.times[-1], dt)
        times = np.unique(np.concatenate([grid, self.times]))
        times = times[np.concatenate([[True], np.diff(times) > 1e-9])]
        times[-1] = self.times[-1]
        pos, vel, acc = self.sample_state(times)
        # acceleration "in effect after" an original knot: take it from the stored value there
        idx = np.searchsorted(self.times, times)
        hit = (idx < len(self.times)) & np.isclose(self.times[np.minimum(idx, len(self.times) - 1)], times)
        acc[hit] = self.accelerations[idx[hit]]
        return JointTrajectory(self.joint_names, times - times[0], pos, vel, acc)


def _limits(values: Sequence[float] | np.ndarray, j: int, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).reshape(-1)
    if arr.shape != (j,):
        raise ValueError(f"{name} needs {j} entries, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be positive and finite, got {arr.tolist()}")
    return arr


#: Shortest segment (s). A time-optimal move of a few nanometres lasts microseconds, and its cubic
#: pieces then carry round-off far above the limit check's tolerance (a resumed scan moving the stage
#: from where it already stood, to 1e-11, was refused: "acceleration -10 exceeds the limit 10").
MIN_SEGMENT_S = 0.01


def _segment_profile(delta: np.ndarray, vmax: np.ndarray, amax: np.ndarray) -> tuple[float, float, float]:
    """Path-parameter limits of a straight segment: (s_dot_max, s_ddot_max, duration) for s in [0, 1]."""
    moving = np.abs(delta) > _EPS
    if not np.any(moving):
        return 0.0, 0.0, 0.0
    sv = float(np.min(vmax[moving] / np.abs(delta[moving])))
    sa = float(np.min(amax[moving] / np.abs(delta[moving])))
    if sv * sv / sa <= 1.0:  # trapezoid: reaches cruise speed
        return sv, sa, 1.0 / sv + sv / sa
    if 2.0 / float(np.sqrt(sa)) < MIN_SEGMENT_S:  # a hair's move: slower than the limits allow
        return 2.0 / MIN_SEGMENT_S, (2.0 / MIN_SEGMENT_S) ** 2, MIN_SEGMENT_S
    return float(np.sqrt(sa)), sa, 2.0 / float(np.sqrt(sa))  # triangle: peak speed sqrt(sa)


def move_time(
    start: Sequence[float] | np.ndarray,
    goal: Sequence[float] | np.ndarray,
    max_velocity: Sequence[float] | np.ndarray,
    max_acceleration: Sequence[float] | np.ndarray,
) -> float:
    """Minimum duration (s) of a synchronised point-to-point move from rest to rest.

    All joints start and stop together on the straight joint-space segment; equal to
    ``time_parameterize([start, goal], ...).duration``.
    """
    start_a = np.asarray(start, dtype=float).reshape(-1)
    goal_a = np.asarray(goal, dtype=float).reshape(-1)
    if start_a.shape != goal_a.shape:
        raise ValueError(f"move_time: start has {start_a.size} joints, goal has {goal_a.size}")
    if not (np.all(np.isfinite(start_a)) and np.all(np.isfinite(goal_a))):
        raise ValueError("move_time: start and goal must be finite")
    j = start_a.size
    vmax = _limits(max_velocity, j, "max_velocity")
    amax = _limits(max_acceleration, j, "max_acceleration")
    return _segment_profile(goal_a - start_a, vmax, amax)[2]


def _merge_collinear(points: np.ndarray) -> np.ndarray:
    """Drop repeated waypoints and interior waypoints that lie on a straight continuation."""
    kept = [points[0]]
    for p in points[1:]:
        if np.max(np.abs(p - kept[-1])) > _EPS:  # the rule `_segment_profile` has for "moving"
            kept.append(p)
    out = [kept[0]]
    for i in range(1, len(kept) - 1):
        d0, d1 = kept[i] - out[-1], kept[i + 1] - kept[i]
        cos = float(d0 @ d1) / (np.linalg.norm(d0) * np.linalg.norm(d1))
        if cos < 1.0 - 1e-12:
            out.append(kept[i])
    if len(kept) > 1:
        out.append(kept[-1])
    return np.array(out)


def time_parameterize(
    waypoints: Sequence[Sequence[float]] | np.ndarray,
    max_velocity: Sequence[float] | np.ndarray,
    max_acceleration: Sequence[float] | np.ndarray,
    joint_names: Sequence[str] | None = None,
    *,
    velocity_scale: float = 1.0,
    acceleration_scale: float = 1.0,
) -> JointTrajectory:
    """A rest-to-rest trajectory through ``waypoints`` (K, J) within the (scaled) limits.

    Each segment is a time-optimal synchronised straight-line move; knots are placed at every phase
    boundary so the stored trajectory is exact. ``velocity_scale``/``acceleration_scale`` in (0, 1]
    slow the motion down (e.g. for approach moves or a demo mode).
    """
    pts = np.asarray(waypoints, dtype=float)
    if pts.ndim != 2 or pts.shape[0] == 0:
        raise ValueError(f"time_parameterize: waypoints must be (K, J) with K >= 1, got shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("time_parameterize: waypoints contain non-finite values")
    j = pts.shape[1]
    names = tuple(joint_names) if joint_names is not None else tuple(f"joint_{i}" for i in range(j))
    if len(names) != j:
        raise ValueError(f"time_parameterize: {len(names)} joint names for {j} joints")
    for label, scale in (("velocity_scale", velocity_scale), ("acceleration_scale", acceleration_scale)):
        if not 0 < scale <= 1:
            raise ValueError(f"time_parameterize: {label} must be in (0, 1], got {scale}")
    vmax = _limits(max_velocity, j, "max_velocity") * velocity_scale
    amax = _limits(max_acceleration, j, "max_acceleration") * acceleration_scale

    pts = _merge_collinear(pts)
    times, pos, vel, acc = [0.0], [pts[0]], [np.zeros(j)], [np.zeros(j)]
    for a, b in itertools.pairwise(pts):
        delta = b - a
        sv, sa, duration = _segment_profile(delta, vmax, amax)
        t0 = times[-1]
        acc[-1] = sa * delta  # the knot at rest starts this segment's acceleration phase
        ta = sv / sa
        s_a = 0.5 * sa * ta * ta
        times.append(t0 + ta)
        pos.append(a + s_a * delta)
        vel.append(sv * delta)
        cruise = duration - 2 * ta
        if cruise > 1e-12:
            acc.append(np.zeros(j))
            times.append(t0 + ta + cruise)
            pos.append(b - s_a * delta)
            vel.append(sv * delta)
        acc.append(-sa * delta)
        times.append(t0 + duration)
        pos.append(b.copy())
        vel.append(np.zeros(j))
        acc.append(np.zeros(j))
    return JointTrajectory(names, np.array(times), np.array(pos), np.array(vel), np.array(acc))


def concatenate(trajectories: Sequence[JointTrajectory]) -> JointTrajectory:
    """Join rest-to-rest trajectories end to start (each must start where the previous one ended)."""
    if not trajectories:
        raise ValueError("concatenate: no trajectories")
    names = trajectories[0].joint_names
    times, pos, vel, acc = [trajectories[0].times], [trajectories[0].positions], [], []
    vel.append(trajectories[0].velocities)
    acc.append(trajectories[0].accelerations)
    offset = trajectories[0].times[-1]
    for i, tr in enumerate(trajectories[1:], start=1):
        if tr.joint_names != names:
            raise ValueError(f"concatenate: trajectory {i} has joints {tr.joint_names}, expected {names}")
        gap = float(np.max(np.abs(tr.positions[0] - pos[-1][-1])))
        if gap > 1e-9:
            raise ValueError(f"concatenate: trajectory {i} starts {gap:.3g} away from where {i - 1} ends")
        if np.any(np.abs(vel[-1][-1]) > 1e-12) or np.any(np.abs(tr.velocities[0]) > 1e-12):
            raise ValueError(f"concatenate: trajectories {i - 1} and {i} do not meet at rest")
        if len(tr.times) == 1:
            continue
        acc[-1] = acc[-1].copy()
        acc[-1][-1] = tr.accelerations[0]
        times.append(tr.times[1:] + offset)
        pos.append(tr.positions[1:])
        vel.append(tr.velocities[1:])
        acc.append(tr.accelerations[1:])
        offset += tr.times[-1]
    return JointTrajectory(
        names, np.concatenate(times), np.concatenate(pos), np.concatenate(vel), np.concatenate(acc)
    )


def find_limit_violation(
    trajectory: JointTrajectory,
    *,
    position_limits: Sequence[tuple[float, float]] | None = None,
    max_velocity: Sequence[float] | None = None,
    max_acceleration: Sequence[float] | None = None,
    tolerance: float = 1e-6,
) -> str | None:
    """A sentence naming the first joint, time and value outside the limits, or None if all is within.

    Velocity is checked at the knots and acceleration at both ends of every segment (exact for the
    piecewise-cubic interpolation); positions additionally on a grid of 16 samples per segment.
    """
    tr = trajectory
    names = tr.joint_names
    if position_limits is not None:
        lim = np.asarray(position_limits, dtype=float).reshape(-1, 2)
        grid = tr.times
        if len(tr.times) > 1:
            fine = np.linspace(0, 1, 17)[:-1]
            grid = np.concatenate([t0 + fine * (t1 - t0) for t0, t1 in itertools.pairwise(tr.times)])
            grid = np.append(grid, tr.times[-1])
        pos = np.atleast_2d(tr.sample(grid))
        for j, (lo, hi) in enumerate(lim):
            bad = np.flatnonzero((pos[:, j] < lo - tolerance) | (pos[:, j] > hi + tolerance))
            if bad.size:
                k = bad[0]
                value = pos[k, j]
                return (
                    f"joint {names[j]} at t={grid[k]:.3f} s is at {value:.6g}, outside [{lo:.6g}, {hi:.6g}]"
                )
    checks = []
    if max_velocity is not None:
        checks.append(("velocity", np.asarray(max_velocity, dtype=float), tr.velocities, tr.times))
    if max_acceleration is not None and len(tr.times) > 1:
        eps = 1e-9 * np.diff(tr.times)
        starts = tr.sample_state(tr.times[:-1] + eps)[2]
        ends = tr.sample_state(tr.times[1:] - eps)[2]
        acc = np.concatenate([starts, ends])
        at = np.concatenate([tr.times[:-1], tr.times[1:]])
        checks.append(("acceleration", np.asarray(max_acceleration, dtype=float), acc, at))
    for label, limit, values, at in checks:
        ratio = np.abs(values) / limit
        k, j = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        if ratio[k, j] > 1 + tolerance:
            value = values[k, j]
            return f"joint {names[j]} {label} {value:.6g} at t={at[k]:.3f} s exceeds the limit {limit[j]:.6g}"
    return None
