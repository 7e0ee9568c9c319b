"""Simulated drivers: the `platform_control.hardware` protocols on top of a `SimCell`.

The cycle, the pick-and-place executor and `imaging.capture_viewpoint` use these exactly like the real
or ROS drivers. The camera renders the current light channel at the current cell state; its last
frame's pixel-exact class mask and defect instance map are kept for ground truth.
"""

from __future__ import annotations

import time

import numpy as np

from platform_control.hardware import HardwareFault, JointState, ProgressCallback
from platform_control.imaging import UnknownChannelError
from platform_control.sim.cell import Group, SimCell
from platform_control.sim.sensor import frame_metadata
from platform_control.trajectory import JointTrajectory


class _SimMotionDriver:
    group: Group

    def __init__(self, cell: SimCell) -> None:
        self.cell = cell

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.cell.joints[self.group]

    def joint_state(self) -> JointState:
        return self.cell.joint_state(self.group)

    def follow(self, trajectory: JointTrajectory, progress_cb: ProgressCallback | None = None) -> None:
        self.cell.follow(self.group, trajectory, progress_cb)

    def stop(self) -> None:
        self.cell.stop(self.group)

    def reset(self) -> None:
        self.cell.reset(self.group)


class SimArmDriver(_SimMotionDriver):
    """`ArmDriver` of the simulated arm."""

    group: Group = "arm"


class SimStageDriver(_SimMotionDriver):
    """`StageDriver` of the simulated stage."""

    group: Group = "stage"


class SimGripper:
    """`Gripper`: closes on the blade when the tool centre is at it."""

    def __init__(self, cell: SimCell) -> None:
        self.cell = cell

    def open(self) -> None:
        self.cell.release()

    def close(self) -> None:
        self.cell.grip()

    def holding(self) -> bool:
        return self.cell.holding()


class SimLightController:
    """`LightController` of the simulated light ring (the optics file's channels)."""

    def __init__(self, cell: SimCell) -> None:
        self.cell = cell
        self.current: str | None = None

    @property
    def channels(self) -> tuple[str, ...]:
        return self.cell.optics.channel_names

    def set(self, channel: str) -> None:
        if channel not in self.channels:
            raise UnknownChannelError(
                f"light ring has no channel '{channel}' (fitted: {list(self.channels)})"
            )
        self.current = channel

    def off(self) -> None:
        self.current = None


class SimCamera:
    """`Camera`: renders the light channel that is on, at the cell's current state.

    Noise is drawn from a generator seeded with (SimConfig.seed, frame number) in the deterministic mode
    (so a seed replays identical frames) and from fresh entropy in the real-time mode, which also takes
    the exposure and readout time (`readout_ms`) of a real capture.
    """

    def __init__(self, cell: SimCell, lights: SimLightController, readout_ms: float = 25.0) -> None:
        self.cell = cell
        self.lights = lights
        self.readout_ms = readout_ms
        self.frame_count = 0
        self.last_mask: np.ndarray | None = None
        self.last_instances: np.ndarray | None = None
        self.last_channel: str | None = None

    def _rng(self) -> np.random.Generator:
        if self.cell.config.timing == "deterministic":
            return np.random.default_rng([self.cell.config.seed, self.frame_count])
        return np.random.default_rng()

    @property
    def frame_metadata(self) -> dict[str, float | int]:
        """Frame size, binning and pixel footprint on the blade (um) of the frames `capture` returns."""
        sensor = self.cell.optics.sensor
        return frame_metadata(self.cell.camera_params, sensor.width, sensor.height)

    def capture(self, exposure_ms: float, gain: float) -> np.ndarray:
        if not 0 < exposure_ms <= 2000:
            raise HardwareFault("camera", f"exposure {exposure_ms} ms outside 0..2000 ms")
        if not 0 <= gain <= 48:
            raise HardwareFault("camera", f"gain {gain} dB outside 0..48 dB")
        start = time.monotonic()
        renderer = self.cell.renderer()
        with self.cell._lock:
            scene = renderer.scene(self.cell.data)
            frame = renderer.expose(scene, self.lights.current, exposure_ms, gain, self._rng())
            self.last_mask, self.last_instances = scene.mask.copy(), scene.instances.copy()
        self.last_channel = self.lights.current
        self.frame_count += 1
        if self.cell.config.timing == "realtime":
            remaining = (exposure_ms + self.readout_ms) / 1000.0 / self.cell.config.speed
            remaining -= time.monotonic() - start
            if remaining > 0:
                time.sleep(remaining)
        return frame


class SimDrivers:
    """All simulated drivers of one cell, ready to hand to the cycle or the imaging sequence."""

    def __init__(self, cell: SimCell) -> None:
        self.cell = cell
        self.arm = SimArmDriver(cell)
        self.stage = SimStageDriver(cell)
        self.gripper = SimGripper(cell)
        self.lights = SimLightController(cell)
        self.camera = SimCamera(cell, self.lights)

    def halt_motion(self) -> None:
        self.cell.stop()
