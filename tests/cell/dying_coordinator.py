"""A coordinator that dies (SIGKILL) at a chosen point of a pick-and-place, over the simulated world,
and what the physical cell saw meanwhile: for the resume tests of LOAD and UNLOAD (issue 16).

`DyingArm` and `ProxyGripper` stand between the cycle and the world's drivers like the coordinator's
ROS proxies: the world (blade, arm, stage) outlives them; `ProxyGripper.holding()` knows only the
answer to its own last command, as `RosGripper` in a restarted coordinator. `Witness` records gripper
commands that closed on nothing and releases that left the blade anywhere but a receiver.
"""

from __future__ import annotations

from platform_control.hardware import JointState, ProgressCallback
from platform_control.pick_place import PickPlacePlanner
from platform_control.sim.world import SimWorld
from platform_control.trajectory import JointTrajectory


class CoordinatorDied(BaseException):
    """The coordinator process is killed here (not an `Exception`: nothing may catch it)."""


class Killer:
    """Counts the points of a run where the coordinator can die; dies at point number ``at``, or at
    the ``nth`` point named ``where``."""

    def __init__(self, at: int | None = None, where: str | None = None, nth: int = 1) -> None:
        self.at, self.where, self.nth = at, where, nth
        self.count, self.died_at = 0, ""
        self.seen: dict[str, int] = {}

    def point(self, where: str) -> None:
        n, self.count = self.count, self.count + 1
        self.seen[where] = self.seen.get(where, 0) + 1
        if n == self.at or (where == self.where and self.seen[where] == self.nth):
            self.died_at = where
            raise CoordinatorDied(where)


class Witness:
    """What the physical cell saw: every gripper command and where the blade was around it, and every
    motion that carried a held blade back towards the seat it was taken from (to grip it again)."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world
        cell = world.cell
        self.planner = PickPlacePlanner.for_cell(
            cell.arm_params, cell.stage_params, cell.layout, world.pick_place
        )
        self.closed_on_nothing: list[str] = []
        self.opened_in_mid_air: list[str] = []
        self.carried_back: list[str] = []
        self.grips = 0

    def moving(self, where: str, trajectory: JointTrajectory) -> None:
        if not self.world.gripper.holding():
            return
        seat = (
            self.planner.fixture_blade_pose
            if self.world.picked_from == "fixture"
            else self.planner.tray_blade_pose
        )
        grasp = self.planner.grasp_pose(seat)
        pre_grasp = grasp.copy()
        pre_grasp[:3, 3] -= self.planner.config.approach_distance * grasp[:3, 2]
        goal = trajectory.goal
        if self.planner.tool_at(goal, pre_grasp) or (
            self.planner.tool_at(goal, grasp) and not self.planner.tool_at(trajectory.start, grasp)
        ):
            self.carried_back.append(f"{where}: to the {self.world.picked_from} again")

    def closed(self, where: str, held_before: bool) -> None:
        if not self.world.gripper.holding():
            self.closed_on_nothing.append(where)
        elif not held_before:
            self.grips += 1

    def opened(self, where: str, held_before: bool, allowed: set[str]) -> None:
        if held_before and self.world.blade_holder not in allowed:
            self.opened_in_mid_air.append(f"{where}: blade {self.world.blade_holder}")


class DyingArm:
    """The world's arm, through a coordinator that may die before, during or after a motion."""

    def __init__(self, world: SimWorld, killer: Killer, witness: Witness | None = None) -> None:
        self.world, self.killer, self.witness, self.moves = world, killer, witness, 0

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.world.arm.joint_names

    def joint_state(self) -> JointState:
        return self.world.arm.joint_state()

    def follow(self, trajectory: JointTrajectory, progress_cb: ProgressCallback | None = None) -> None:
        self.moves += 1
        name = f"motion {self.moves}"
        self.killer.point(f"before {name}")
        half = [False]

        def progress(fraction: float) -> None:
            if fraction >= 0.5 and not half[0]:
                half[0] = True
                self.killer.point(f"half-way through {name}")
            if progress_cb:
                progress_cb(fraction)

        if self.witness is not None:
            self.witness.moving(name, trajectory)
        self.world.arm.follow(trajectory, progress)
        self.killer.point(f"after {name}")

    def stop(self) -> None:
        self.world.arm.stop()

    def reset(self) -> None:
        self.world.arm.reset()


class ProxyGripper:
    """The world's gripper as a restarted coordinator's proxy sees it: ``holding()`` is the answer to
    this process's last command (False before any), as `RosGripper`; the coordinator may die before or
    after each command."""

    def __init__(self, world: SimWorld, killer: Killer, witness: Witness, allowed: set[str]) -> None:
        self.world, self.killer, self.witness, self.allowed = world, killer, witness, allowed
        self._holding = False

    def close(self) -> None:
        self.killer.point("before close")
        held = self.world.gripper.holding()
        self.world.gripper.close()
        self._holding = self.world.gripper.holding()
        self.witness.closed("close", held)
        self.killer.point("after close")

    def open(self) -> None:
        self.killer.point("before open")
        held = self.world.gripper.holding()
        self.world.gripper.open()
        self._holding = False
        self.witness.opened("open", held, self.allowed)
        self.killer.point("after open")

    def holding(self) -> bool:
        return self._holding
