"""Time parameterisation: limits never exceeded (checked on a fine grid), waypoints passed, exactness."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from platform_control.params import load_arm_params, load_stage_params
from platform_control.trajectory import (
    JointTrajectory,
    concatenate,
    find_limit_violation,
    move_time,
    time_parameterize,
)

ARM = load_arm_params()
STAGE = load_stage_params()
VMAX = np.array(ARM.max_velocity)
AMAX = np.array(ARM.max_acceleration)


def _dense_check(traj: JointTrajectory, vmax: np.ndarray, amax: np.ndarray, n: int = 20001) -> None:
    """Velocity and acceleration limits on a fine grid, both from the interpolant and from finite
    differences of sampled positions (independent of the stored derivatives)."""
    t = np.linspace(0.0, traj.duration, n)
    pos, vel, acc = traj.sample_state(t)
    assert np.all(np.abs(vel) <= vmax * (1 + 1e-9)), np.max(np.abs(vel) / vmax)
    assert np.all(np.abs(acc) <= amax * (1 + 1e-9)), np.max(np.abs(acc) / amax)
    dt = t[1] - t[0]
    fd_vel = np.diff(pos, axis=0) / dt
    assert np.all(np.abs(fd_vel) <= vmax * (1 + 1e-6))
    fd_acc = np.diff(pos, 2, axis=0) / dt**2
    # a second difference straddling a phase switch averages the two accelerations: still within limits
    assert np.all(np.abs(fd_acc) <= amax * (1 + 1e-3))


def _passes_through(traj: JointTrajectory, waypoints: np.ndarray) -> list[float]:
    """Times at which the trajectory is at each waypoint, in order (asserts they exist and increase)."""
    times = []
    k = 0
    for w in waypoints:
        while k < len(traj.times) and np.max(np.abs(traj.positions[k] - w)) > 1e-12:
            k += 1
        assert k < len(traj.times), f"waypoint {w} not reached in order"
        times.append(float(traj.times[k]))
        assert np.allclose(traj.sample(traj.times[k]), w, atol=1e-12)
        assert np.allclose(traj.velocities[k], 0.0)
    return times


def test_single_joint_trapezoid_matches_textbook_times() -> None:
    # 2 rad at v=1, a=2: accelerate 0.5 s (0.25 rad), cruise 1.5 rad (1.5 s), decelerate 0.5 s -> 2.5 s
    assert move_time([0.0], [2.0], [1.0], [2.0]) == pytest.approx(2.5)
    # 0.1 rad never reaches v=1: triangle, 2*sqrt(0.1/2)
    assert move_time([0.0], [0.1], [1.0], [2.0]) == pytest.approx(2 * np.sqrt(0.05))
    traj = time_parameterize([[0.0], [2.0]], [1.0], [2.0])
    assert traj.duration == pytest.approx(2.5)
    assert traj.sample(0.5)[0] == pytest.approx(0.25)
    assert traj.sample(1.25)[0] == pytest.approx(1.0)  # mid-cruise, symmetric profile
    assert traj.sample_state(1.0)[1][0] == pytest.approx(1.0)


def test_move_time_is_synchronised_and_bounded_by_each_joint() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        a, b = rng.uniform(-3, 3, 6), rng.uniform(-3, 3, 6)
        t = move_time(a, b, VMAX, AMAX)
        per_joint = [move_time([a[j]], [b[j]], [VMAX[j]], [AMAX[j]]) for j in range(6)]
        assert t >= max(per_joint) - 1e-12
        assert t == pytest.approx(time_parameterize([a, b], VMAX, AMAX).duration, rel=1e-12)
    # one joint moving alone: exactly that joint's own optimum
    a = np.zeros(6)
    b = np.array([0, 0, 1.7, 0, 0, 0])
    assert move_time(a, b, VMAX, AMAX) == pytest.approx(move_time([0], [1.7], [VMAX[2]], [AMAX[2]]))
    assert move_time(a, a, VMAX, AMAX) == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_random_multi_waypoint_trajectories_respect_limits_and_pass_waypoints(seed: int) -> None:
    rng = np.random.default_rng(seed)
    waypoints = rng.uniform(-2.5, 2.5, size=(int(rng.integers(2, 7)), 6))
    waypoints[1] = waypoints[0] + rng.uniform(-1e-3, 1e-3, 6)  # a tiny move: triangular profile
    traj = time_parameterize(waypoints, VMAX, AMAX, ARM.joint_names)
    _dense_check(traj, VMAX, AMAX)
    times = _passes_through(traj, waypoints)
    assert np.all(np.diff(times) > 0)
    expected = sum(move_time(a, b, VMAX, AMAX) for a, b in itertools.pairwise(waypoints))
    assert traj.duration == pytest.approx(expected, rel=1e-12)
    assert find_limit_violation(traj, max_velocity=VMAX, max_acceleration=AMAX) is None


def test_path_between_waypoints_is_the_straight_joint_segment() -> None:
    a, b = np.array([0.0, 0.5, -1.0, 0.2, 0.0, 3.0]), np.array([1.0, -0.5, 1.0, 0.2, 2.0, -1.0])
    traj = time_parameterize([a, b], VMAX, AMAX)
    pos = traj.sample(np.linspace(0, traj.duration, 501))
    s = (pos - a) @ (b - a) / ((b - a) @ (b - a))
    assert np.allclose(pos, a + s[:, None] * (b - a), atol=1e-12)
    assert np.all(np.diff(s) >= -1e-15)


def test_stage_moves_with_mixed_units() -> None:
    vmax, amax = np.array(STAGE.max_velocity), np.array(STAGE.max_acceleration)
    a, b = np.array([-0.1, 0.05, 0.0, 0.3, -2.0]), np.array([0.12, -0.1, 0.25, -1.2, 4.0])
    traj = time_parameterize(
        [a, b, a], vmax, amax, STAGE.axis_names, velocity_scale=0.5, acceleration_scale=0.5
    )
    _dense_check(traj, 0.5 * vmax, 0.5 * amax)
    # straight-line sync: Z limits the path speed (0.05 m/s over 0.25 m -> 0.2 /s), C the path
    # acceleration (5 rad/s^2 over 6 rad -> 0.8333 /s^2): per leg 1/0.2 + 0.2/0.8333 = 5.24 s
    assert traj.duration == pytest.approx(2 * (1 / 0.2 + 0.2 / (5.0 / 6.0)), rel=1e-9)


def test_collinear_waypoints_are_merged_not_stopped_at() -> None:
    traj = time_parameterize([[0.0, 0.0], [0.5, 1.0], [1.0, 2.0]], [1.0, 1.0], [1.0, 1.0])
    assert traj.duration == pytest.approx(move_time([0, 0], [1, 2], [1, 1], [1, 1]))


def test_resample_keeps_the_motion_exactly() -> None:
    traj = time_parameterize([[0.0, 0.0], [1.0, -2.0], [0.3, 0.4]], [1.0, 1.5], [2.0, 3.0])
    fine = traj.resample(0.01)
    assert len(fine.times) > len(traj.times)
    t = np.linspace(0, traj.duration, 3001)
    assert np.allclose(fine.sample(t), traj.sample(t), atol=1e-12)
    assert fine.duration == pytest.approx(traj.duration)


def test_concatenate_joins_at_rest_and_refuses_gaps() -> None:
    t1 = time_parameterize([[0.0], [1.0]], [1.0], [1.0])
    t2 = time_parameterize([[1.0], [-1.0]], [1.0], [1.0])
    joined = concatenate([t1, t2])
    assert joined.duration == pytest.approx(t1.duration + t2.duration)
    assert joined.sample(t1.duration + t2.duration)[0] == pytest.approx(-1.0)
    _dense_check(joined, np.array([1.0]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"starts 0\.5 away"):
        concatenate([t1, time_parameterize([[0.5], [0.0]], [1.0], [1.0])])


def test_limit_violation_names_joint_time_and_value() -> None:
    traj = time_parameterize([[0.0, 0.0], [2.0, 1.0]], [1.0, 1.0], [2.0, 2.0], ["a", "b"])
    assert find_limit_violation(traj, max_velocity=[1.0, 1.0], max_acceleration=[2.0, 2.0]) is None
    msg = find_limit_violation(traj, max_velocity=[0.9, 1.0])
    assert msg is not None and "joint a velocity 1" in msg and "0.9" in msg
    msg = find_limit_violation(traj, max_acceleration=[2.0, 0.5])
    assert msg is not None and "joint b acceleration" in msg
    msg = find_limit_violation(traj, position_limits=[(-1, 1.5), (-1, 1)])
    assert msg is not None and "joint a" in msg and "outside [-1, 1.5]" in msg


def test_bad_input_gets_clear_errors() -> None:
    with pytest.raises(ValueError, match="max_velocity needs 2 entries"):
        move_time([0, 0], [1, 1], [1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="must be positive"):
        time_parameterize([[0.0], [1.0]], [0.0], [1.0])
    with pytest.raises(ValueError, match="non-finite"):
        time_parameterize([[0.0], [np.nan]], [1.0], [1.0])
    with pytest.raises(ValueError, match="velocity_scale"):
        time_parameterize([[0.0], [1.0]], [1.0], [1.0], velocity_scale=1.5)
    with pytest.raises(ValueError, match="strictly increasing"):
        JointTrajectory(("a",), np.array([0.0, 0.0]), np.zeros((2, 1)), np.zeros((2, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="positions has shape"):
        JointTrajectory(("a", "b"), np.array([0.0]), np.zeros((1, 1)), np.zeros((1, 2)), np.zeros((1, 2)))
    single = time_parameterize([[0.3, 0.1]], [1.0, 1.0], [1.0, 1.0])
    assert single.duration == 0.0 and np.allclose(single.sample(5.0), [0.3, 0.1])


@pytest.mark.parametrize("size", [1e-6, 1e-9, 1e-11, 1e-12, 1e-13])
def test_a_hairs_move_stays_within_the_limits(size: float) -> None:
    """A resumed scan moves the stage from where it already stands (to round-off): such a move used to
    last microseconds and break the limit check ("acceleration -10 exceeds the limit 10"), or divide
    by zero when every axis moved less than the "moving" threshold while the norm did not."""
    from platform_control.params import load_stage_params
    from platform_control.trajectory import MIN_SEGMENT_S, find_limit_violation, move_time, time_parameterize

    params = load_stage_params()
    rng = np.random.default_rng(7)
    for _ in range(200):
        start = rng.uniform(-1, 1, 5)
        goal = start + rng.normal(size=5) * size
        tr = time_parameterize(np.array([start, goal]), params.max_velocity, params.max_acceleration)
        limits = {"max_velocity": params.max_velocity, "max_acceleration": params.max_acceleration}
        assert find_limit_violation(tr, **limits) is None
        assert tr.duration in (0.0, MIN_SEGMENT_S)
        assert move_time(start, goal, params.max_velocity, params.max_acceleration) == tr.duration
        assert np.max(np.abs(tr.positions[-1] - goal)) <= 1e-12
