"""The cell's motions in a cycle: stage moves, LOAD and UNLOAD (one implementation for every cell).

Why here: the ROS cell (through proxies), the in-process cell and the bare simulator all move the
blade with these functions over the `platform_control.hardware` protocols, so there is one set of
tolerances and one way to plan a move.

* `stage_to`: a synchronised point-to-point stage move from where the stage is. A drive settles within
  its tolerance, possibly a hair beyond a limit it was sent to, so the move is planned from the nearest
  position inside the limits (the driver accepts a start within its tolerance).
* `load`: stage to its load pose, then the arm's pick-and-place LOAD plan (tray -> fixture).
* `unload`: stage to its load pose, then the UNLOAD plan to the tray (pass) or the reject bin (fail).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from platform_control.cycle.services import Notify
from platform_control.hardware import ArmDriver, Gripper, StageDriver
from platform_control.params import StageParams
from platform_control.pick_place import PickPlacePlan, PickPlacePlanner, execute_pick_place
from platform_control.trajectory import time_parameterize

AT_TARGET = 1e-6  # rad, m: a stage this close to its target does not move


def _quiet(message: str) -> None:
    return None


@dataclass
class CellMotion:
    """Arm, stage and gripper with the planners and limits that move a blade through the cell."""

    arm: ArmDriver
    stage: StageDriver
    gripper: Gripper
    planner: PickPlacePlanner
    stage_params: StageParams
    stage_load_axes: np.ndarray
    notify: Notify = field(default=_quiet)

    def stage_to(self, target: np.ndarray, what: str = "target") -> None:
        p = self.stage_params
        target = np.asarray(target, dtype=float)
        limits = np.asarray(p.limits, dtype=float)
        current = np.clip(
            np.asarray(self.stage.joint_state().positions, dtype=float), limits[:, 0], limits[:, 1]
        )
        if np.max(np.abs(current - target)) < AT_TARGET:
            return
        traj = time_parameterize(
            np.array([current, target]), p.max_velocity, p.max_acceleration, p.axis_names
        )
        self.notify(f"stage to {what} ({traj.duration:.1f} s)")
        self.stage.follow(traj)

    def _pick_place(self, plan: PickPlacePlan) -> None:
        self.notify(f"arm: {plan.operation} ({plan.duration:.1f} s)")
        execute_pick_place(plan, self.arm, self.gripper)

    def load(self) -> None:
        self.stage_to(self.stage_load_axes, "load pose")
        self._pick_place(self.planner.plan_load(self.arm.joint_state().positions))

    def unload(self, reject: bool) -> None:
        self.stage_to(self.stage_load_axes, "load pose")
        self._pick_place(self.planner.plan_unload(reject, self.arm.joint_state().positions))
