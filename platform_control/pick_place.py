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

Resuming: `PickPlacePlanner.plan_rest` plans what is left of an operation from the arm's current joints
given its phase (before the grip, holding the blade, released), with the same moves and checks;
`execute_pick_place` reports the gripper milestones (`MILESTONES`) so a caller can journal them and
tell the phase after a crash (`platform_control.cycle.motion`). A fresh plan is the "before_grip" rest.

Size: ~530 lines, one planner whose LOAD and UNLOAD plans (whole or the rest of one) share the grasp
geometry and the checks every motion passes; the configuration and plan types are the short rest.
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
from platform_control.transforms import pose6_matrix, pose_error, pose_matrix

CONFIG_PATH = Path(__file__).resolve().parent / "config" / "pick_place.yaml"

Operation = Literal["load", "unload_to_tray", "unload_to_reject_bin"]
#: where an operation stands: gripper not closed yet, blade in the gripper, blade released at the place
Phase = Literal["before_grip", "holding", "released"]
#: (m, rad): a tool this close to a straight tool line of a plan is on it (a stopped linear move stays
#: within the linear tolerance plus its braking distance along the line)
RESUME_TOLERANCE = (0.005, np.radians(2.0))
AT_POSE = 2e-4  # m: a straight move shorter than this is not made (the tool is there)
AT_REST = 1e-4  # rad: an arm this close to home does not move there
#: `execute_pick_place` milestones, in order: each is journaled before the run goes on
MILESTONES = ("gripping", "gripped", "releasing", "released")


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
        return self.plan_rest("load", "before_grip", q_start)

    def plan_unload(self, reject: bool, q_start: Sequence[float] | None = None) -> PickPlacePlan:
        """Stage fixture → tray (``reject`` False) or reject bin (True), ending at home."""
        return self.plan_rest("unload_to_reject_bin" if reject else "unload_to_tray", "before_grip", q_start)

    def operation_poses(self, operation: Operation) -> tuple[np.ndarray, np.ndarray, bool]:
        """(tool pose where the gripper closes, where it opens, whether the place is lowered into)."""
        fixture_grasp = self.grasp_pose(self.fixture_blade_pose)
        tray_grasp = self.grasp_pose(self.tray_blade_pose)
        if operation == "load":
            return tray_grasp, fixture_grasp, True
        if operation == "unload_to_tray":
            return fixture_grasp, tray_grasp, True
        if operation == "unload_to_reject_bin":
            return fixture_grasp, self.drop_pose(), False
        raise ValueError(f"unknown pick-and-place operation {operation!r}")

    def tool_at(self, q: Sequence[float], pose: np.ndarray) -> bool:
        """Whether joints ``q`` put the tool at ``pose`` (within the resume tolerance)."""
        return self._on_segment(self.arm.fk(np.asarray(q, dtype=float)), pose, pose)

    def plan_rest(
        self, operation: Operation, phase: Phase, q_start: Sequence[float] | None = None
    ) -> PickPlacePlan:
        """What is left of ``operation`` from joints ``q_start`` (default home) in ``phase``.

        Why: a coordinator restarted in the middle of a pick-and-place must not grip at the source
        again (the blade is in the gripper or already placed). "before_grip" is the whole operation,
        "holding" carries the blade on (lifting it out of the source seat first if the tool is still
        on the lift line) to the place and releases it there, "released" backs off the place and goes
        home. A tool found on one of the straight lines (approach, lift, lower, retreat) continues
        along it; anywhere else it takes the joint move towards that line's start, which is the rest
        of an interrupted joint move. Every motion gets the same checks as a fresh plan.
        """
        pick, place, lowered = self.operation_poses(operation)
        return self._plan(operation, q_start, pick, place, place_lowered=lowered, phase=phase)

    def _plan(
        self,
        operation: Operation,
        q_start: Sequence[float] | None,
        pick: np.ndarray,
        place: np.ndarray,
        *,
        place_lowered: bool,
        phase: Phase = "before_grip",
    ) -> PickPlacePlan:
        q = self.home if q_start is None else np.asarray(q_start, dtype=float)
        if not self.arm.within_limits(q):
            raise ValueError(
                f"{operation}: start configuration {np.round(q, 4).tolist()} is outside the joint limits"
            )
        if phase not in ("before_grip", "holding", "released"):
            raise ValueError(f"{operation}: unknown phase {phase!r}")
        steps: list[PlanStep] = []
        tool = self.arm.fk(q)
        if phase == "before_grip":
            pre_pick = self._backed_off(pick)
            if not self._on_segment(tool, pre_pick, pick):
                q_pre = self._solve(pre_pick, q, f"{operation}: pre-grasp")
                steps.append(self._joint_move("transit to pre-grasp", [q, q_pre], carrying=False))
                q, tool = q_pre, pre_pick
            q, tool = self._linear_rest(q, tool, pick, f"{operation}: approach", steps, carrying=False)
            steps.append(GripperCommand("grip blade", close=True))
            phase = "holding"
        if phase == "holding":
            lifted = self._lifted(pick)
            if self._on_segment(tool, pick, lifted):  # still in (or on the way out of) the source seat
                q, tool = self._linear_rest(
                    q,
                    tool,
                    lifted,
                    f"{operation}: lift",
                    steps,
                    carrying=True,
                    seat_exempt=operation == "load",
                )
            if place_lowered:
                above = self._lifted(place)
                if not self._on_segment(tool, above, place):
                    q_above = self._solve(above, q, f"{operation}: above place")
                    steps.append(self._joint_move("transit to place", [q, q_above], carrying=True))
                    q, tool = q_above, above
                q, tool = self._linear_rest(
                    q,
                    tool,
                    place,
                    f"{operation}: lower",
                    steps,
                    carrying=True,
                    seat_exempt=operation == "unload_to_tray",
                )
            elif not self._on_segment(tool, place, place):
                q_place = self._solve(place, q, f"{operation}: drop")
                steps.append(self._joint_move("transit to drop", [q, q_place], carrying=True))
                q, tool = q_place, place
            steps.append(GripperCommand("release blade", close=False))
        back = self._backed_off(place)
        if self._on_segment(tool, place, back):
            q, tool = self._linear_rest(q, tool, back, f"{operation}: retreat", steps, carrying=False)
        if np.max(np.abs(q - self.home)) > AT_REST:
            steps.append(self._joint_move("return home", [q, self.home], carrying=False))
        return PickPlacePlan(operation, tuple(steps), pick, place)

    def _on_segment(self, tool: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether ``tool`` lies on the straight tool line a → b (same orientation as ``a``)."""
        p, pa, pb = tool[:3, 3], a[:3, 3], b[:3, 3]
        ab = pb - pa
        u = np.clip(np.dot(p - pa, ab) / max(float(np.dot(ab, ab)), 1e-18), 0.0, 1.0)
        dp = float(np.linalg.norm(p - (pa + u * ab)))
        _, da = pose_error(tool, a)
        return dp <= RESUME_TOLERANCE[0] and da <= RESUME_TOLERANCE[1]

    def _linear_rest(
        self,
        q: np.ndarray,
        tool: np.ndarray,
        target: np.ndarray,
        label: str,
        steps: list[PlanStep],
        *,
        carrying: bool,
        seat_exempt: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """`_linear` from where the tool is; none when it is already there (a zero-length move)."""
        if np.linalg.norm(target[:3, 3] - tool[:3, 3]) < AT_POSE:
            return q, tool
        q_to = self._linear(q, tool, target, label, steps, carrying=carrying, seat_exempt=seat_exempt)
        return q_to, target

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
    milestone: Callable[[str], None] | None = None,
) -> None:
    """Run a plan on the drivers: follow each motion, operate the gripper, verify the grasp.

    ``progress_cb(step_label, fraction_of_plan_time)``. ``milestone(name)`` is called with each of
    `MILESTONES` and must make it durable before returning (the cycle journal): "gripping" before the
    gripper closes, "gripped" once it holds, "releasing" before it opens, "released" after. Why in
    that order: a process that dies between a gripper command and the next milestone leaves a journal
    that says the command may have happened, with the arm still at rest where it happened, so the
    resumed operation re-asserts that command there instead of gripping at the source again or
    opening anywhere else. Raises `LimitViolation` if the arm is not at the plan's start,
    `HardwareFault` if the gripper closes on nothing, and whatever the drivers or ``milestone`` raise
    (e.g. `EStopActive`) — execution stops at the first error.
    """
    note = milestone or (lambda name: None)
    if plan.motions:
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
                note("gripping")
                gripper.close()
                if not gripper.holding():
                    source = "stage fixture" if plan.operation != "load" else "tray"
                    raise HardwareFault(
                        "gripper",
                        f"{plan.operation}: '{step.label}' closed on nothing at the {source}: check where "
                        f"the blade is and seat it in the {source}, then resume",
                    )
                note("gripped")
            else:
                note("releasing")
                gripper.open()
                note("released")
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
