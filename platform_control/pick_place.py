"""Pick-and-place plans for the arm: LOAD (tray → stage fixture) and UNLOAD (fixture → tray or reject bin).

A plan is a sequence of arm motions (time-parameterised joint trajectories within the arm's velocity
and acceleration limits) and gripper commands. Every motion is checked before it is returned: the
approach, lift, insertion and retreat moves stay within ``linear_tolerance`` of the straight tool line
(bisected with extra waypoints until they do), and along the whole path every arm joint frame and the
tool tip stay ``table_clearance`` above the table; a carried blade's root stays above it too except
while it is lowered into or lifted from the tray slot. Anything that fails raises a `PlanningError`
(or `UnreachablePoseError` for a pose the arm cannot reach) naming the move.

The gripper holds the blade from the side at ``grasp_height`` above its root, approaching along the
blade frame's +x axis with the fingers' x axis along the span. The blade frame at the fixture comes
from `StageKinematics.axes_to_blade_pose` at the stage's load pose; in the tray it is the tray pose
turned by ``tray_slot_yaw`` (blade facing the robot).

Size: ~440 lines, one planner whose LOAD and UNLOAD plans share the grasp geometry and the checks
every motion passes; the configuration and plan types are the short rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.spatial.transform import Rotation, Slerp

from platform_control.arm import ArmKinematics, UnreachablePoseError
from platform_control.hardware import ArmDriver, Gripper, HardwareFault, LimitViolation
from platform_control.params import ArmParams, CellLayout, StageParams, load_yaml_model
from platform_control.stage import StageKinematics
from platform_control.trajectory import JointTrajectory, concatenate, time_parameterize
from platform_control.transforms import pose6_matrix, pose_matrix

CONFIG_PATH = Path(__file__).resolve().parent / "config" / "pick_place.yaml"

Operation = Literal["load", "unload_to_tray", "unload_to_reject_bin"]


class PlanningError(RuntimeError):
    """A pick-and-place motion that cannot be made safe (names the move and the problem)."""


class PickPlaceConfig(BaseModel):
    """Tunable geometry and speeds of the pick-and-place moves (metres, radians); see pick_place.yaml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: tuple[float, float, float, float, float, float] = (1.5708, -1.9, 1.9, 0.0, 1.5708, 0.0)
    stage_load_axes: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    grasp_height: float = Field(default=0.04, ge=0)
    approach_distance: float = Field(default=0.10, gt=0)
    lift_height: float = Field(default=0.12, gt=0)
    drop_clearance: float = Field(default=0.10, ge=0)
    tray_slot_yaw: float = np.pi
    table_clearance: float = Field(default=0.01, ge=0)
    linear_tolerance: float = Field(default=0.002, gt=0)
    approach_speed_scale: float = Field(default=0.25, gt=0, le=1)
    check_step: float = Field(default=0.01, gt=0)


def load_pick_place_config(path: Path | None = None) -> PickPlaceConfig:
    """Read `config/pick_place.yaml` (or ``path``); errors name the file and the field."""
    return load_yaml_model(PickPlaceConfig, path or CONFIG_PATH, "pick-and-place config")


@dataclass(frozen=True)
class ArmMotion:
    """One arm move of a plan. ``carrying``: the blade is in the gripper."""

    label: str
    trajectory: JointTrajectory
    carrying: bool


@dataclass(frozen=True)
class GripperCommand:
    """Open or close the gripper (the arm is at rest)."""

    label: str
    close: bool


PlanStep = ArmMotion | GripperCommand


@dataclass(frozen=True)
class PickPlacePlan:
    """An executable pick-and-place: motions and gripper commands in order."""

    operation: Operation
    steps: tuple[PlanStep, ...]
    pick_pose: np.ndarray  # 4x4 tool pose where the gripper closes
    place_pose: np.ndarray  # 4x4 tool pose where it opens

    @property
    def motions(self) -> tuple[ArmMotion, ...]:
        return tuple(s for s in self.steps if isinstance(s, ArmMotion))

    @property
    def trajectory(self) -> JointTrajectory:
        """All motions joined into one trajectory (the gripper acts at `gripper_events` times)."""
        return concatenate([m.trajectory for m in self.motions])

    @property
    def gripper_events(self) -> list[tuple[float, bool]]:
        """(time in `trajectory`, close?) of each gripper command."""
        t, out = 0.0, []
        for step in self.steps:
            if isinstance(step, ArmMotion):
                t += step.trajectory.duration
            else:
                out.append((t, step.close))
        return out

    @property
    def duration(self) -> float:
        return sum(m.trajectory.duration for m in self.motions)

    @property
    def start(self) -> np.ndarray:
        return self.motions[0].trajectory.start

    @property
    def goal(self) -> np.ndarray:
        return self.motions[-1].trajectory.goal


class PickPlacePlanner:
    """Plans LOAD and UNLOAD for one cell layout.

    Args:
        arm: kinematics of the arm placed in the cell (`ArmKinematics.in_cell`).
        layout: tray, reject bin and table height.
        fixture_pose: 4x4 blade frame → world at the stage's load pose.
        config: geometry and speeds.
    """

    def __init__(
        self,
        arm: ArmKinematics,
        layout: CellLayout,
        fixture_pose: np.ndarray,
        config: PickPlaceConfig | None = None,
    ) -> None:
        self.arm = arm
        self.layout = layout
        self.config = config or load_pick_place_config()
        self.fixture_blade_pose = np.asarray(fixture_pose, dtype=float)
        self.tray_blade_pose = tray_blade_pose(layout, self.config)
        self.home = np.array(self.config.home, dtype=float)
        if not arm.within_limits(self.home):
            raise ValueError(f"PickPlaceConfig.home {self.config.home} is outside the arm's joint limits")
        self.min_height = layout.table_height + self.config.table_clearance

    @classmethod
    def for_cell(
        cls,
        arm_params: ArmParams,
        stage_params: StageParams,
        layout: CellLayout,
        config: PickPlaceConfig | None = None,
    ) -> PickPlacePlanner:
        """Planner for the cell described by the parameter files (fixture pose from the stage)."""
        config = config or load_pick_place_config()
        return cls(
            ArmKinematics.in_cell(arm_params, layout),
            layout,
            fixture_pose_at_load(stage_params, layout, config),
            config,
        )

    # ------------------------------------------------------------------------------ key poses
    def grasp_pose(self, blade_pose: np.ndarray) -> np.ndarray:
        """Tool pose (4x4, world) that grips a blade whose frame is ``blade_pose``."""
        tool_in_blade = np.eye(4)
        tool_in_blade[:3, :3] = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])  # x=span, z=+x
        tool_in_blade[:3, 3] = (0.0, 0.0, self.config.grasp_height)
        return blade_pose @ tool_in_blade

    def drop_pose(self) -> np.ndarray:
        """Tool pose above the reject bin where the gripper lets the blade fall."""
        bin_pose = pose6_matrix(self.layout.reject_bin)
        root_z = max(bin_pose[2, 3] + self.config.drop_clearance, self.min_height)
        bin_blade = bin_pose.copy()
        bin_blade[2, 3] = root_z
        return self.grasp_pose(bin_blade @ pose_matrix((0, 0, 0), (0, 0, self.config.tray_slot_yaw)))

    def _backed_off(self, tool_pose: np.ndarray) -> np.ndarray:
        out = tool_pose.copy()
        out[:3, 3] -= self.config.approach_distance * tool_pose[:3, 2]
        return out

    def _lifted(self, tool_pose: np.ndarray) -> np.ndarray:
        out = tool_pose.copy()
        out[2, 3] += self.config.lift_height
        return out

    # --------------------------------------------------------------------------------- plans
    def plan_load(self, q_start: Sequence[float] | None = None) -> PickPlacePlan:
        """Tray → stage fixture, starting at ``q_start`` (default home) and ending at home."""
        tray_grasp = self.grasp_pose(self.tray_blade_pose)
        fixture_grasp = self.grasp_pose(self.fixture_blade_pose)
        return self._plan("load", q_start, tray_grasp, fixture_grasp, place_lowered=True)

    def plan_unload(self, reject: bool, q_start: Sequence[float] | None = None) -> PickPlacePlan:
        """Stage fixture → tray (``reject`` False) or reject bin (True), ending at home."""
        fixture_grasp = self.grasp_pose(self.fixture_blade_pose)
        if reject:
            return self._plan(
                "unload_to_reject_bin", q_start, fixture_grasp, self.drop_pose(), place_lowered=False
            )
        tray_grasp = self.grasp_pose(self.tray_blade_pose)
        return self._plan("unload_to_tray", q_start, fixture_grasp, tray_grasp, place_lowered=True)

    def _plan(
        self,
        operation: Operation,
        q_start: Sequence[float] | None,
        pick: np.ndarray,
        place: np.ndarray,
        *,
        place_lowered: bool,
    ) -> PickPlacePlan:
        q0 = self.home if q_start is None else np.asarray(q_start, dtype=float)
        if not self.arm.within_limits(q0):
            raise ValueError(
                f"{operation}: start configuration {np.round(q0, 4).tolist()} is outside the joint limits"
            )
        steps: list[PlanStep] = []
        pre_pick = self._backed_off(pick)
        q_pre = self._solve(pre_pick, q0, f"{operation}: pre-grasp")
        steps.append(self._joint_move("transit to pre-grasp", [q0, q_pre], carrying=False))
        q_pick = self._linear(q_pre, pre_pick, pick, f"{operation}: approach", steps, carrying=False)
        steps.append(GripperCommand("grip blade", close=True))
        q_lift = self._linear(
            q_pick,
            pick,
            self._lifted(pick),
            f"{operation}: lift",
            steps,
            carrying=True,
            seat_exempt=operation == "load",
        )
        if place_lowered:
            above = self._lifted(place)
            q_above = self._solve(above, q_lift, f"{operation}: above place")
            steps.append(self._joint_move("transit to place", [q_lift, q_above], carrying=True))
            q_place = self._linear(
                q_above,
                above,
                place,
                f"{operation}: lower",
                steps,
                carrying=True,
                seat_exempt=operation == "unload_to_tray",
            )
        else:
            q_place = self._solve(place, q_lift, f"{operation}: drop")
            steps.append(self._joint_move("transit to drop", [q_lift, q_place], carrying=True))
        steps.append(GripperCommand("release blade", close=False))
        q_back = self._linear(
            q_place, place, self._backed_off(place), f"{operation}: retreat", steps, carrying=False
        )
        steps.append(self._joint_move("return home", [q_back, self.home], carrying=False))
        return PickPlacePlan(operation, tuple(steps), pick, place)

    # ---------------------------------------------------------------------------- primitives
    def _static_clear(self, q: np.ndarray) -> bool:
        return bool(np.all(self.arm.link_frames(q)[2:, 2, 3] >= self.min_height - 1e-9))

    def _solve(self, pose: np.ndarray, q_near: np.ndarray, label: str) -> np.ndarray:
        try:
            sols = self.arm.ik(pose, q_hint=q_near)
        except UnreachablePoseError as exc:
            raise UnreachablePoseError(f"{label}: {exc}", distance=exc.distance, pose=exc.pose) from None
        for q in sols:  # nearest first
            if self._static_clear(q):
                return q
        raise PlanningError(
            f"{label}: all {len(sols)} arm configurations put a link below the table clearance"
        )

    def _joint_move(
        self,
        label: str,
        waypoints: list[np.ndarray],
        *,
        carrying: bool,
        scale: float = 1.0,
        seat_exempt: bool = False,
    ) -> ArmMotion:
        traj = time_parameterize(
            np.array(waypoints),
            self.arm.max_velocity,
            self.arm.max_acceleration,
            self.arm.joint_names,
            velocity_scale=scale,
            acceleration_scale=scale,
        )
        self._check_clearance(label, traj, carrying and not seat_exempt)
        return ArmMotion(label, traj, carrying)

    def _linear(
        self,
        q_from: np.ndarray,
        pose_from: np.ndarray,
        pose_to: np.ndarray,
        label: str,
        steps: list[PlanStep],
        *,
        carrying: bool,
        seat_exempt: bool = False,
    ) -> np.ndarray:
        """Append a straight-line tool move (joint waypoints bisected until within tolerance)."""
        q_to = self._solve(pose_to, q_from, label)
        waypoints = [q_from, *self._bisect(q_from, q_to, pose_from, pose_to, label, depth=0), q_to]
        scale = self.config.approach_speed_scale
        steps.append(
            self._joint_move(
                label.split(": ")[-1], waypoints, carrying=carrying, scale=scale, seat_exempt=seat_exempt
            )
        )
        return q_to

    def _bisect(
        self, qa: np.ndarray, qb: np.ndarray, pa: np.ndarray, pb: np.ndarray, label: str, depth: int
    ) -> list[np.ndarray]:
        if self._line_deviation(qa, qb, pa, pb) <= self.config.linear_tolerance:
            return []
        if depth >= 6:
            raise PlanningError(
                f"{label}: cannot follow the straight tool line within "
                f"{self.config.linear_tolerance} m (near a singularity?)"
            )
        rots = Slerp([0.0, 1.0], Rotation.from_matrix([pa[:3, :3], pb[:3, :3]]))
        pm = np.eye(4)
        pm[:3, :3] = rots(0.5).as_matrix()
        pm[:3, 3] = 0.5 * (pa[:3, 3] + pb[:3, 3])
        qm = self._solve(pm, qa, label)
        return [
            *self._bisect(qa, qm, pa, pm, label, depth + 1),
            qm,
            *self._bisect(qm, qb, pm, pb, label, depth + 1),
        ]

    def _line_deviation(self, qa: np.ndarray, qb: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> float:
        a, b = pa[:3, 3], pb[:3, 3]
        ab = b - a
        worst = 0.0
        for s in np.linspace(0.0, 1.0, 21)[1:-1]:
            p = self.arm.fk(qa + s * (qb - qa))[:3, 3]
            u = np.clip(np.dot(p - a, ab) / max(np.dot(ab, ab), 1e-18), 0.0, 1.0)
            worst = max(worst, float(np.linalg.norm(p - (a + u * ab))))
        return worst

    def _check_clearance(self, label: str, traj: JointTrajectory, blade_must_clear: bool) -> None:
        times = np.arange(0.0, traj.duration + self.config.check_step, self.config.check_step)
        for t, q in zip(times, np.atleast_2d(traj.sample(times)), strict=True):
            frames = self.arm.link_frames(q)
            z = frames[2:, 2, 3]
            if np.min(z) < self.min_height - 1e-9:
                raise PlanningError(
                    f"move '{label}' brings arm frame {2 + int(np.argmin(z))} to z={np.min(z):.4f} m at "
                    f"t={t:.2f} s, below the table clearance {self.min_height:.4f} m"
                )
            if blade_must_clear:
                root_z = frames[-1][2, 3] - self.config.grasp_height
                if root_z < self.min_height - 1e-9:
                    raise PlanningError(
                        f"move '{label}' brings the carried blade's root to z={root_z:.4f} m at t={t:.2f} s, "
                        f"below the table clearance {self.min_height:.4f} m"
                    )


def tray_blade_pose(layout: CellLayout, config: PickPlaceConfig) -> np.ndarray:
    """Blade frame → world (4x4) of a blade seated in the tray slot (turned by ``tray_slot_yaw``)."""
    return pose6_matrix(layout.tray) @ pose_matrix((0, 0, 0), (0, 0, config.tray_slot_yaw))


def fixture_pose_at_load(
    stage_params: StageParams, layout: CellLayout, config: PickPlaceConfig
) -> np.ndarray:
    """Blade frame → world (4x4) at the stage's load pose (``config.stage_load_axes``)."""
    stage = StageKinematics(stage_params, layout)
    axes = np.array(config.stage_load_axes, dtype=float)
    stage.check_limits(axes)
    return stage.axes_to_blade_pose(axes)


def execute_pick_place(
    plan: PickPlacePlan,
    arm: ArmDriver,
    gripper: Gripper,
    progress_cb: Callable[[str, float], None] | None = None,
    start_tolerance: float = 1e-3,
) -> None:
    """Run a plan on the drivers: follow each motion, operate the gripper, verify the grasp.

    ``progress_cb(step_label, fraction_of_plan_time)``. Raises `LimitViolation` if the arm is not at
    the plan's start, `HardwareFault` if the gripper closes on nothing, and whatever the drivers raise
    (e.g. `EStopActive`) — execution stops at the first error.
    """
    current = np.asarray(arm.joint_state().positions, dtype=float)
    gap = float(np.max(np.abs(current - plan.start)))
    if gap > start_tolerance:
        raise LimitViolation(
            "arm", f"{plan.operation} plan starts {gap:.4g} rad away from the arm's position"
        )
    total = max(plan.duration, 1e-9)
    done = 0.0
    for step in plan.steps:
        if isinstance(step, GripperCommand):
            if step.close:
                gripper.close()
                if not gripper.holding():
                    raise HardwareFault("gripper", f"{plan.operation}: '{step.label}' closed on nothing")
            else:
                gripper.open()
            if progress_cb:
                progress_cb(step.label, done / total)
            continue
        base = done

        def relay(
            fraction: float,
            label: str = step.label,
            base: float = base,
            span: float = step.trajectory.duration,
        ) -> None:
            if progress_cb:
                progress_cb(label, (base + fraction * span) / total)

        arm.follow(step.trajectory, relay)
        done += step.trajectory.duration
        if progress_cb:
            progress_cb(step.label, done / total)
