"""Driver interfaces of the cell's hardware, implemented by the simulator and by real/ROS drivers.

The cycle, the pick-and-place executor and the imaging sequence only talk to these protocols, so the
same logic runs on the simulator, on ROS action clients or on test fakes. Contract for implementers:

* `follow` blocks until the trajectory is done and calls ``progress_cb(fraction)`` along the way
  (fraction in [0, 1]). It refuses a trajectory outside the device's limits with `LimitViolation`
  before moving (`validate_trajectory` does the check) and raises `EStopActive` if `stop` was called
  while moving or the stop latch is set.
* `stop` is callable from any thread at any time, halts motion immediately and latches: every later
  motion command raises `EStopActive` until `reset` is called.
* Device trouble raises `HardwareFault`, or `DeviceUnreachable` when the device cannot be talked to.
  Every error names the device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from platform_control.trajectory import JointTrajectory, find_limit_violation

ProgressCallback = Callable[[float], None]


class HardwareError(RuntimeError):
    """Base of all driver errors; ``device`` names the device that raised it."""

    def __init__(self, device: str, message: str) -> None:
        super().__init__(f"{device}: {message}")
        self.device = device


class HardwareFault(HardwareError):  # noqa: N818 (name fixed by the driver contract)
    """The device reported a fault (drive error, gripper closed on nothing, camera timeout, ...)."""


class DeviceUnreachable(HardwareFault):
    """The device does not answer (cable, network, driver process gone)."""


class EStopActive(HardwareError):  # noqa: N818
    """Motion was halted by an emergency stop, or is refused because the stop latch is still set."""


class LimitViolation(HardwareError, ValueError):  # noqa: N818
    """A command lies outside the device's position, velocity or acceleration limits."""


@dataclass(frozen=True)
class JointState:
    """Measured joint state of an arm or stage. Shape: positions/velocities (J,)."""

    names: tuple[str, ...]
    positions: np.ndarray
    velocities: np.ndarray
    stamp: float  # seconds, the driver's clock


@runtime_checkable
class MotionDriver(Protocol):
    """A multi-axis device that follows joint trajectories (arm or stage)."""

    @property
    def joint_names(self) -> tuple[str, ...]: ...

    def joint_state(self) -> JointState: ...

    def follow(self, trajectory: JointTrajectory, progress_cb: ProgressCallback | None = None) -> None: ...

    def stop(self) -> None: ...

    def reset(self) -> None: ...


@runtime_checkable
class ArmDriver(MotionDriver, Protocol):
    """The 6-DOF arm (joint order as in `ArmParams.joint_names`)."""


@runtime_checkable
class StageDriver(MotionDriver, Protocol):
    """The 5-DOF stage (axis order as in `StageParams.axis_names`)."""


@runtime_checkable
class Gripper(Protocol):
    """The arm's parallel gripper. `close` raises `HardwareFault` if it closes on nothing."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    def holding(self) -> bool: ...


@runtime_checkable
class LightController(Protocol):
    """The light ring: at most one channel on at a time."""

    @property
    def channels(self) -> tuple[str, ...]: ...

    def set(self, channel: str) -> None: ...

    def off(self) -> None: ...


@runtime_checkable
class Camera(Protocol):
    """The inspection camera. ``gain`` is in dB; returns one frame (H, W) or (H, W, C)."""

    def capture(self, exposure_ms: float, gain: float) -> np.ndarray: ...


def validate_trajectory(
    device: str,
    trajectory: JointTrajectory,
    joint_names: Sequence[str],
    position_limits: Sequence[tuple[float, float]],
    max_velocity: Sequence[float],
    max_acceleration: Sequence[float],
    *,
    current: np.ndarray | None = None,
    start_tolerance: float = 1e-3,
) -> None:
    """Raise `LimitViolation` if ``trajectory`` does not fit the device; drivers call it before moving.

    Checks joint names and order, that it starts at ``current`` (if given), and positions, velocities
    and accelerations against the limits.
    """
    if tuple(trajectory.joint_names) != tuple(joint_names):
        raise LimitViolation(
            device, f"trajectory joints {trajectory.joint_names} != device joints {tuple(joint_names)}"
        )
    if current is not None:
        gap = np.abs(trajectory.positions[0] - np.asarray(current, dtype=float))
        if np.max(gap) > start_tolerance:
            j = int(np.argmax(gap))
            raise LimitViolation(
                device, f"trajectory starts {gap[j]:.4g} away from the current position of {joint_names[j]}"
            )
    problem = find_limit_violation(
        trajectory,
        position_limits=position_limits,
        max_velocity=max_velocity,
        max_acceleration=max_acceleration,
    )
    if problem is not None:
        raise LimitViolation(device, problem)
