"""The simulated cell: MuJoCo physics of the arm and the stage, the blade and whatever holds it.

Arm joints and stage axes are driven by their servos (`cell_model.py`) towards the commanded
trajectory, sampled at every physics step; joint states are the physics' state, never the command.
Commands outside the parameter files' limits are refused before anything moves (`LimitViolation`),
a following error beyond the drive's limit or a drive that does not settle raises `HardwareFault`, and
`stop` latches an e-stop per device until `reset`.

`stop` is a controlled stop (IEC 60204-1 category 1, as a robot controller's protective stop): the
stopped drives ramp their velocities from the measured ones to zero together, as fast as the joint
nearest its maximum acceleration (times `SimConfig.stop_deceleration_scale`) allows, the physics runs
through the ramp until the measured velocities are at standstill, and then the drives hold. `stop`
returns at standstill, so joint states read after it report ~0 velocity; each joint travels its
braking distance v·T/2 (T = the ramp's duration) after the stop, not zero.

The blade is rigid and follows its holder (tray, fixture, gripper, reject bin, or loose); the rules of
grip and release are in `blade_carrier.py`.

Timing: "deterministic" runs as fast as it can; "realtime" paces physics to the wall clock (scaled by
`speed`) and makes captures take their exposure and readout time, for demos.

Size: ~470 lines, the one object that owns the MuJoCo data (physics stepping, limits, stops, holders and
the renderer all touch it under one lock); its parts without that state are in `cell_parts.py`,
`braking.py` and `blade_carrier.py`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from platform_control.hardware import (
    EStopActive,
    HardwareFault,
    JointState,
    LimitViolation,
    validate_trajectory,
)
from platform_control.params import (
    ArmParams,
    CameraParams,
    CellLayout,
    StageParams,
    load_arm_params,
    load_camera_params,
    load_cell_layout,
    load_stage_params,
)
from platform_control.pick_place import PickPlaceConfig, tray_blade_pose
from platform_control.sim.blade_carrier import BladeCarrier, BladeHolder
from platform_control.sim.braking import BrakingRamp
from platform_control.sim.cell_model import CellModel, build_cell_model
from platform_control.sim.optics import OpticsConfig, load_optics
from platform_control.sim.render import SimBlade
from platform_control.sim.sensor import frame_geometry
from platform_control.trajectory import JointTrajectory
from platform_control.transforms import pose6_matrix

Group = Literal["arm", "stage"]
Timing = Literal["deterministic", "realtime"]
_CHUNK = 10  # physics steps between progress reports, e-stop checks and real-time pacing


@dataclass(frozen=True)
class SimConfig:
    """How the simulator runs. `seed` drives the camera noise of the deterministic mode."""

    timing: Timing = "deterministic"
    speed: float = 1.0
    seed: int = 0
    settle_tolerance: tuple[float, float] = (5e-5, 5e-6)  # rad, m
    settle_timeout: float = 1.0  # s of simulated time after the trajectory ends
    following_error_limit: tuple[float, float] = (0.05, 0.005)  # rad, m
    stop_deceleration_scale: float = 1.0  # a stop brakes at this x each drive's max acceleration
    standstill_velocity: tuple[float, float] = (1e-4, 1e-5)  # rad/s, m/s: below this a drive is at rest


@dataclass
class _Motion:
    trajectory: JointTrajectory | BrakingRamp
    t0: float


def _quat_wxyz(rot: np.ndarray) -> np.ndarray:
    x, y, z, w = Rotation.from_matrix(rot).as_quat()
    return np.array([w, x, y, z])


class SimCell:
    """One simulated cell. Thread-safe: motion of arm and stage may run from different threads."""

    def __init__(
        self,
        blade: SimBlade | None = None,
        config: SimConfig | None = None,
        *,
        arm: ArmParams | None = None,
        stage: StageParams | None = None,
        camera: CameraParams | None = None,
        layout: CellLayout | None = None,
        optics: OpticsConfig | None = None,
        pick_place: PickPlaceConfig | None = None,
    ) -> None:
        self.config = config or SimConfig()
        if self.config.speed <= 0:
            raise ValueError(f"SimConfig.speed must be positive, got {self.config.speed}")
        if self.config.stop_deceleration_scale <= 0:
            scale = self.config.stop_deceleration_scale
            raise ValueError(f"SimConfig.stop_deceleration_scale must be positive, got {scale}")
        self.arm_params = arm or load_arm_params()
        self.stage_params = stage or load_stage_params()
        self.camera_params = camera or load_camera_params()
        self.layout = layout or load_cell_layout()
        self.optics = optics or load_optics()
        self.pick_place = pick_place or PickPlaceConfig()
        self.blade = blade
        frame = frame_geometry(self.camera_params, self.optics.sensor.width, self.optics.sensor.height)
        home = dict(zip(self.arm_params.joint_names, self.pick_place.home, strict=True))
        home.update(zip(self.stage_params.axis_names, self.pick_place.stage_load_axes, strict=True))
        self.cell: CellModel = build_cell_model(
            self.arm_params, self.stage_params, frame, blade.mesh if blade is not None else None, home
        )
        self.model = self.cell.model
        self.data = mujoco.MjData(self.model)
        self.joints: dict[str, tuple[str, ...]] = {
            "arm": self.cell.arm_joints,
            "stage": self.cell.stage_joints,
        }
        self.limits = {
            "arm": (
                self.arm_params.joint_limits,
                self.arm_params.max_velocity,
                self.arm_params.max_acceleration,
            ),
            "stage": (
                self.stage_params.limits,
                self.stage_params.max_velocity,
                self.stage_params.max_acceleration,
            ),
        }
        self._lock = threading.RLock()
        self._motions: dict[str, _Motion] = {}
        self._braking: dict[str, _Motion] = {}  # groups in a controlled stop (see `stop`)
        self._estop = {"arm": False, "stage": False}
        # groups whose e-stop waits for the lock: a moving group's loop steps aside for it (see `follow`)
        self._stop_requests: set[str] = set()
        self._gripper_closed = False
        self.tray_blade_pose = tray_blade_pose(self.layout, self.pick_place)
        self.reject_bin_pose = pose6_matrix(self.layout.reject_bin)
        self._carrier = BladeCarrier("tray" if blade is not None else "none", self.tray_blade_pose.copy())
        for name, value in home.items():
            self.data.qpos[self.cell.qpos_index[name]] = value
        self._hold_current()
        self._sync()
        self._renderer = None

    # ------------------------------------------------------------------------------- state
    @property
    def time(self) -> float:
        return float(self.data.time)

    def joint_state(self, group: Group) -> JointState:
        with self._lock:
            names = self.joints[group]
            return JointState(
                names, self.cell.qpos(self.data, names), self.cell.qvel(self.data, names), self.time
            )

    def link_pose(self, body: int) -> np.ndarray:
        with self._lock:
            return self.cell.body_pose(self.data, body)

    @property
    def blade_holder(self) -> BladeHolder:
        return self._carrier.holder

    def blade_pose(self) -> np.ndarray:
        """4x4 blade frame -> world."""
        with self._lock:
            if self._carrier.holder == "none":
                raise ValueError("no blade in this simulated cell")
            return self.cell.body_pose(self.data, self.cell.blade_body)

    def place_blade(self, holder: Literal["tray", "fixture"]) -> None:
        """Put the blade (without the arm) into the tray slot or the stage fixture; for tests and datasets."""
        with self._lock:
            if self.blade is None:
                raise ValueError("no blade in this simulated cell")
            self._carrier.place(holder, self.tray_blade_pose)
            self._sync()

    # ------------------------------------------------------------------------------ motion
    def _hold_current(self) -> None:
        for name in (*self.cell.arm_joints, *self.cell.stage_joints):
            self.data.ctrl[self.cell.position_actuator[name]] = self.data.qpos[self.cell.qpos_index[name]]
            self.data.ctrl[self.cell.velocity_actuator[name]] = 0.0

    def set_stage_axes(self, axes: np.ndarray) -> None:
        """Put the stage at `axes` at rest without simulating the move (dataset rendering, restoring a
        saved world). Raises LimitViolation outside the limits, HardwareFault while the stage moves."""
        self._set_joints("stage", axes, self.stage_params.limits)

    def set_arm_joints(self, q: np.ndarray) -> None:
        """Put the arm at `q` at rest without simulating the move (restoring a saved world only); a
        blade in the gripper goes with it. Raises LimitViolation / HardwareFault like `set_stage_axes`."""
        self._set_joints("arm", q, self.arm_params.joint_limits)

    def _set_joints(self, group: Group, values: np.ndarray, limits) -> None:
        with self._lock:
            if group in self._motions or group in self._braking:
                raise HardwareFault(group, "cannot set joints while the drives are moving")
            names = self.joints[group]
            lo_hi = np.array(limits)
            values = np.asarray(values, dtype=float)
            if values.shape != (len(names),) or not np.all(np.isfinite(values)):
                raise LimitViolation(
                    group, f"expected {len(names)} finite values {names}, got {values.tolist()}"
                )
            bad = np.flatnonzero((values < lo_hi[:, 0] - 1e-9) | (values > lo_hi[:, 1] + 1e-9))
            if bad.size:
                j = int(bad[0])
                raise LimitViolation(
                    group,
                    f"{names[j]} = {values[j]:.6g} outside its limits [{lo_hi[j, 0]:.6g}, {lo_hi[j, 1]:.6g}]",
                )
            for name, value in zip(names, values, strict=True):
                self.data.qpos[self.cell.qpos_index[name]] = value
                self.data.qvel[self.cell.dof_index[name]] = 0.0
                self.data.ctrl[self.cell.position_actuator[name]] = value
                self.data.ctrl[self.cell.velocity_actuator[name]] = 0.0
            self._sync()

    def _sync(self) -> None:
        """Kinematics up to date and the blade on its holder."""
        mujoco.mj_kinematics(self.model, self.data)
        if self.cell.blade_body < 0:
            mujoco.mj_comPos(self.model, self.data)
            mujoco.mj_camlight(self.model, self.data)
            return
        pose = self._carrier.pose(
            self.cell.body_pose(self.data, self.cell.mount_body),
            self.cell.body_pose(self.data, self.cell.tool_body),
        )
        self.data.mocap_pos[self.cell.blade_mocap] = pose[:3, 3]
        self.data.mocap_quat[self.cell.blade_mocap] = _quat_wxyz(pose[:3, :3])
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)  # camera poses for rendering

    def _advance(self, steps: int) -> None:
        """Step the physics; every running trajectory (or braking ramp) sets its servos' references at
        every step."""
        dt = self.model.opt.timestep
        refs = []
        for group, motion in (*self._motions.items(), *self._braking.items()):
            times = self.data.time + dt * np.arange(steps) - motion.t0
            q, v, _ = motion.trajectory.sample_state(np.clip(times, 0.0, motion.trajectory.duration))
            names = self.joints[group]
            pos = [self.cell.position_actuator[n] for n in names]
            vel = [self.cell.velocity_actuator[n] for n in names]
            refs.append((pos, vel, q, v))
        for k in range(steps):
            for pos, vel, q, v in refs:
                self.data.ctrl[pos] = q[k]
                self.data.ctrl[vel] = v[k]
            mujoco.mj_step(self.model, self.data)
        self._sync()

    def _per_joint(self, group: Group, rotary_linear: tuple[float, float]) -> np.ndarray:
        """One value per joint of `group` from a (rotary, linear) pair of the config."""
        kinds = self.stage_params.axis_types if group == "stage" else ("revolute",) * len(self.joints[group])
        return np.array([rotary_linear[0 if k == "revolute" else 1] for k in kinds])

    def _following_error(self, group: Group) -> None:
        names = self.joints[group]
        ref = np.array([self.data.ctrl[self.cell.position_actuator[n]] for n in names])
        err = np.abs(self.cell.qpos(self.data, names) - ref)
        limit = self._per_joint(group, self.config.following_error_limit)
        if np.any(err > limit):
            j = int(np.argmax(err / limit))
            self._motions.pop(group, None)
            self._hold_current()
            raise HardwareFault(group, f"following error {err[j]:.4g} on {names[j]} exceeds {limit[j]:.4g}")

    def follow(
        self, group: Group, trajectory: JointTrajectory, progress_cb: Callable[[float], None] | None = None
    ) -> None:
        """Drive `group` along `trajectory` through the physics; blocks until it has settled."""
        if self._estop[group]:
            raise EStopActive(group, "e-stop latched; call reset() before moving")
        names = self.joints[group]
        lim, vmax, amax = self.limits[group]
        with self._lock:
            if group in self._motions:
                raise HardwareFault(group, "already following a trajectory")
            if group in self._braking:
                raise HardwareFault(group, "still braking from a stop")
            current = self.cell.qpos(self.data, names)
            validate_trajectory(
                group, trajectory, names, lim, vmax, amax, current=current, start_tolerance=2e-3
            )
            motion = _Motion(trajectory, self.time)
            self._motions[group] = motion
        wall0, sim0 = time.monotonic(), self.time
        end = motion.t0 + trajectory.duration
        tol = self._per_joint(group, self.config.settle_tolerance)
        goal = trajectory.goal
        try:
            while True:
                if group in self._stop_requests:
                    # let the e-stop take the lock now: released and re-taken at once, this loop would
                    # keep it (and the GIL) until the move ends when the physics run unpaced
                    time.sleep(0.001)
                    continue
                with self._lock:
                    if self._estop[group]:
                        raise EStopActive(group, "stopped while moving")
                    now = self.time
                    if now >= end:
                        err = np.abs(self.cell.qpos(self.data, names) - goal)
                        if np.all(err <= tol):
                            break
                        if now > end + self.config.settle_timeout:
                            j = int(np.argmax(err / tol))
                            raise HardwareFault(
                                group, f"{names[j]} did not settle: {err[j]:.3g} from its goal"
                            )
                    self._advance(_CHUNK)
                    self._following_error(group)
                if progress_cb is not None:
                    progress_cb(
                        float(np.clip((self.time - motion.t0) / max(trajectory.duration, 1e-9), 0, 1))
                    )
                self._pace(wall0, sim0)
        finally:
            with self._lock:
                self._motions.pop(group, None)
                if self._estop[group] and group not in self._braking:
                    self._hold_group(group)
        if progress_cb is not None:
            progress_cb(1.0)

    def _pace(self, wall0: float, sim0: float) -> None:
        if self.config.timing == "realtime":
            delay = wall0 + (self.time - sim0) / self.config.speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def wait(self, seconds: float) -> None:
        """Let simulated time pass (e.g. a capture's exposure) with every drive holding."""
        wall0, sim0 = time.monotonic(), self.time
        with self._lock:
            self._advance(max(round(seconds / self.model.opt.timestep), 1))
        self._pace(wall0, sim0)

    def stop(self, group: Group | None = None) -> None:
        """E-stop (callable from any thread): latch, brake to standstill through the physics, hold.

        The stopped drives' references ramp from their measured positions and velocities to rest, all
        joints of a group together, none faster than its maximum acceleration (x
        `SimConfig.stop_deceleration_scale`); simulated time runs on (paced in real-time mode) until
        the ramp is over and the measured velocities are below `SimConfig.standstill_velocity`, at most
        `settle_timeout` beyond the ramp; then the drives hold where they stand. A trajectory of a
        stopped group ends with `EStopActive`.
        """
        groups: tuple[Group, ...] = (group,) if group else ("arm", "stage")
        wall0, sim0 = time.monotonic(), self.time
        self._stop_requests.update(groups)
        try:
            with self._lock:
                for g in groups:
                    self._estop[g] = True
                    self._motions.pop(g, None)  # its `follow` sees the latch and raises
                    if g not in self._braking:
                        self._braking[g] = _Motion(self._braking_ramp(g), self.time)
                end = max(self._braking[g].t0 + self._braking[g].trajectory.duration for g in groups)
        finally:
            self._stop_requests.difference_update(groups)
        while True:
            with self._lock:
                now = self.time
                if now >= end and (self._at_standstill(groups) or now > end + self.config.settle_timeout):
                    for g in groups:
                        if self._braking.pop(g, None) is not None:
                            self._hold_group(g)
                    break
                self._advance(_CHUNK)
            self._pace(wall0, sim0)

    def _braking_ramp(self, group: Group) -> BrakingRamp:
        names = self.joints[group]
        _, _, amax = self.limits[group]
        decel = np.asarray(amax, dtype=float) * self.config.stop_deceleration_scale
        return BrakingRamp(self.cell.qpos(self.data, names), self.cell.qvel(self.data, names), decel)

    def _at_standstill(self, groups: tuple[Group, ...]) -> bool:
        for g in groups:
            tol = self._per_joint(g, self.config.standstill_velocity)
            if np.any(np.abs(self.cell.qvel(self.data, self.joints[g])) > tol):
                return False
        return True

    def _hold_group(self, group: Group) -> None:
        for name in self.joints[group]:
            self.data.ctrl[self.cell.position_actuator[name]] = self.data.qpos[self.cell.qpos_index[name]]
            self.data.ctrl[self.cell.velocity_actuator[name]] = 0.0

    def reset(self, group: Group | None = None) -> None:
        for g in (group,) if group else ("arm", "stage"):
            self._estop[g] = False

    def estop_active(self, group: Group) -> bool:
        return self._estop[group]

    # ----------------------------------------------------------------------------- gripper
    def grip(self) -> None:
        """Close the gripper; it holds the blade if the tool centre is inside the blade's bounds."""
        with self._lock:
            self._gripper_closed = True
            if self.blade is None:
                return
            tool = self.cell.body_pose(self.data, self.cell.tool_body)
            blade = self.cell.body_pose(self.data, self.cell.blade_body)
            if self._carrier.grip(tool, blade, self.blade.mesh.bounds):
                self._sync()

    def release(self) -> None:
        """Open the gripper; a receiver near the blade takes it, otherwise it drops or is left loose."""
        with self._lock:
            self._gripper_closed = False
            if self._carrier.holder != "gripper":
                return
            self._carrier.release(
                self.cell.body_pose(self.data, self.cell.blade_body),
                self.cell.body_pose(self.data, self.cell.mount_body),
                self.tray_blade_pose,
                self.reject_bin_pose,
            )
            self._sync()

    def holding(self) -> bool:
        return self._gripper_closed and self._carrier.holder == "gripper"

    # ------------------------------------------------------------------------------ camera
    def renderer(self):
        """The multispectral renderer (created on first use: it opens an offscreen GL context)."""
        if self._renderer is None:
            from platform_control.sim.render import MultispectralRenderer

            self._renderer = MultispectralRenderer(
                self.cell, self.blade, self.camera_params, self.layout, self.optics
            )
        return self._renderer

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> SimCell:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
