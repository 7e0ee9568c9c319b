"""In-memory drivers implementing the `platform_control.hardware` protocols, for tests."""

from __future__ import annotations

import threading
import time

import numpy as np

from platform_control.hardware import (
    EStopActive,
    HardwareFault,
    JointState,
    ProgressCallback,
    validate_trajectory,
)
from platform_control.trajectory import JointTrajectory


class FakeMotionDriver:
    """Follows trajectories instantly (or paced by ``time_scale``), honouring limits and the stop latch."""

    def __init__(self, name, joint_names, limits, vmax, amax, start, time_scale: float = 0.0) -> None:
        self.name = name
        self._joint_names = tuple(joint_names)
        self.limits, self.vmax, self.amax = limits, vmax, amax
        self.position = np.array(start, dtype=float)
        self.time_scale = time_scale
        self.followed: list[JointTrajectory] = []
        self._stopped = threading.Event()
        self.stop_calls = 0

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._joint_names

    def joint_state(self) -> JointState:
        return JointState(self._joint_names, self.position.copy(), np.zeros(len(self.position)), time.time())

    def follow(self, trajectory: JointTrajectory, progress_cb: ProgressCallback | None = None) -> None:
        if self._stopped.is_set():
            raise EStopActive(self.name, "stop latch set")
        validate_trajectory(
            self.name, trajectory, self._joint_names, self.limits, self.vmax, self.amax, current=self.position
        )
        self.followed.append(trajectory)
        steps = 10
        for i in range(1, steps + 1):
            if self.time_scale and self._stopped.wait(self.time_scale * trajectory.duration / steps):
                raise EStopActive(self.name, "stopped while moving")
            if self._stopped.is_set():
                raise EStopActive(self.name, "stopped while moving")
            self.position = trajectory.sample(trajectory.duration * i / steps)
            if progress_cb:
                progress_cb(i / steps)

    def stop(self) -> None:
        self.stop_calls += 1
        self._stopped.set()

    def reset(self) -> None:
        self._stopped.clear()


class FakeGripper:
    def __init__(self, part_present: bool = True) -> None:
        self.part_present = part_present
        self.closed = False
        self.log: list[str] = []

    def open(self) -> None:
        self.closed = False
        self.log.append("open")

    def close(self) -> None:
        self.closed = True
        self.log.append("close")

    def holding(self) -> bool:
        return self.closed and self.part_present


class FakeLights:
    def __init__(self, channels: tuple[str, ...]) -> None:
        self._channels = channels
        self.on: str | None = None
        self.log: list[str] = []

    @property
    def channels(self) -> tuple[str, ...]:
        return self._channels

    def set(self, channel: str) -> None:
        if channel not in self._channels:
            raise HardwareFault("lights", f"no channel {channel}")
        self.on = channel
        self.log.append(channel)

    def off(self) -> None:
        self.on = None
        self.log.append("off")


class FakeCamera:
    """Returns a frame whose brightness encodes the light that is on, exposure and gain."""

    def __init__(
        self, lights: FakeLights, shape: tuple[int, int] = (8, 10), fail_on: str | None = None
    ) -> None:
        self.lights = lights
        self.shape = shape
        self.fail_on = fail_on
        self.calls: list[tuple[str | None, float, float]] = []

    def capture(self, exposure_ms: float, gain: float) -> np.ndarray:
        self.calls.append((self.lights.on, exposure_ms, gain))
        if self.lights.on == self.fail_on:
            raise HardwareFault("camera", f"timeout under {self.fail_on}")
        channel_index = self.lights.channels.index(self.lights.on) if self.lights.on else 255
        value = min(255, channel_index * 10 + int(exposure_ms) + int(gain))
        return np.full(self.shape, value, dtype=np.uint8)
