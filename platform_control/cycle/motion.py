"""The cell's motions in a cycle: stage moves, LOAD and UNLOAD (one implementation for every cell).

Why here: the ROS cell (through proxies), the in-process cell and the bare simulator all move the
blade with these functions over the `platform_control.hardware` protocols, so there is one set of
tolerances and one way to plan a move.

* `stage_to`: a synchronised point-to-point stage move from where the stage is. A drive settles within
  its tolerance, possibly a hair beyond a limit it was sent to, so the move is planned from the nearest
  position inside the limits (the driver accepts a start within its tolerance).
* `load`: stage to its load pose, then the arm's pick-and-place LOAD plan (tray -> fixture).
* `unload`: stage to its load pose, then the UNLOAD plan to the tray (pass) or the reject bin (fail).

Resuming (issue 16): a coordinator killed in the middle of a LOAD or UNLOAD is restarted and runs the
step again. There is no sensor for the blade on the fixture or in the tray, so the executor's gripper
milestones go into a `PickPlaceJournal` (the cycle journal) before the operation goes on, and every
run first works out from them where the blade is (`_phase`), then plans only the rest of the
operation from the arm's current joints (`PickPlacePlanner.plan_rest`). A fresh operation is simply
the phase "before_grip" with nothing journaled: one path for both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from platform_control.cycle.services import Notify
from platform_control.hardware import ArmDriver, Gripper, StageDriver
from platform_control.params import StageParams
from platform_control.pick_place import (
    Operation,
    Phase,
    PickPlacePlanner,
    PlanningError,
    execute_pick_place,
)
from platform_control.trajectory import time_parameterize

AT_TARGET = 1e-6  # rad, m: a stage this close to its target does not move
AT_LOAD_POSE = 1e-4  # rad, m: a stage this close to its load pose holds the fixture where the plans expect


def _quiet(message: str) -> None:
    return None


class PickPlaceResumeError(RuntimeError):
    """Where the blade is cannot be told safely; the message says what to check before resuming."""


@dataclass
class PickPlaceJournal:
    """Durable record of the pick-and-place under way: ``read()`` the last entry (None if none),
    ``write(entry)`` replaces it and returns only once it is durable.

    Entries are ``{"operation": ..., "milestone": ...}`` (`pick_place.MILESTONES`). The default keeps
    them in memory (a bare simulator run); the cycle runner keeps them in the cycle journal.
    """

    read: Callable[[], Mapping[str, Any] | None]
    write: Callable[[Mapping[str, Any]], None]

    @classmethod
    def in_memory(cls) -> PickPlaceJournal:
        box: dict[str, Mapping[str, Any]] = {}
        return cls(read=lambda: box.get("entry"), write=lambda entry: box.__setitem__("entry", dict(entry)))


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
    journal: PickPlaceJournal = field(default_factory=PickPlaceJournal.in_memory)

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

    def load(self) -> None:
        self._pick_place("load")

    def unload(self, reject: bool) -> None:
        self._pick_place("unload_to_reject_bin" if reject else "unload_to_tray")

    # ------------------------------------------------------------------------------ internals
    def _pick_place(self, operation: Operation) -> None:
        """Finish ``operation`` from wherever an earlier run of it stopped (or do all of it)."""
        entry = self.journal.read()
        milestone = entry.get("milestone") if entry and entry.get("operation") == operation else None
        phase = self._phase(operation, milestone)
        if phase == "before_grip":
            self.stage_to(self.stage_load_axes, "load pose")
        else:  # the arm is at or carries the blade: the fixture must be where the plan puts it
            axes = np.asarray(self.stage.joint_state().positions, dtype=float)
            if np.max(np.abs(axes - self.stage_load_axes)) > AT_LOAD_POSE:
                where = "in the gripper" if phase == "holding" else "placed"
                raise PickPlaceResumeError(
                    f"{operation} resumed with the blade {where} but the stage is not at its load pose "
                    f"({np.round(axes, 4).tolist()}): check the blade and the fixture, move the stage to "
                    "its load pose, then resume"
                )
        q = self.arm.joint_state().positions
        try:
            plan = self.planner.plan_rest(operation, phase, q)
        except PlanningError as exc:
            raise PlanningError(
                f"{operation} ({phase.replace('_', ' ')}) from the arm's position: {exc}"
            ) from None
        if not plan.steps:
            return
        what = "" if phase == "before_grip" else f", resumed {phase.replace('_', ' ')}"
        self.notify(f"arm: {plan.operation} ({plan.duration:.1f} s{what})")

        def note(name: str) -> None:
            self.journal.write({"operation": operation, "milestone": name})

        execute_pick_place(plan, self.arm, self.gripper, milestone=note)

    def _phase(self, operation: Operation, milestone: str | None) -> Phase:
        """Where the blade of an earlier, interrupted run of ``operation`` is, from its last milestone.

        Gripper commands are re-asserted rather than trusted to a proxy's memory (a restarted
        coordinator's gripper proxy has not heard an answer yet): closing again where the journal says
        the gripper closed, or may have, tells whether it holds the blade; opening again is done only
        at the place, where the journal says the release was under way.
        """
        if milestone is None:
            return "before_grip"
        if milestone in ("gripping", "gripped"):
            self.gripper.close()  # a no-op on a held blade
            if self.gripper.holding():
                return "holding"
            # the blade left the gripper without a release (the operator took it out, or re-seated it
            # at the source): nothing can fall from an empty gripper; open it and pick at the source
            self.gripper.open()
            self.notify(f"{operation}: the gripper is empty after the grip; picking the blade again")
            return "before_grip"
        if milestone == "releasing":
            _, place, _ = self.planner.operation_poses(operation)
            if not self.planner.tool_at(self.arm.joint_state().positions, place):
                raise PickPlaceResumeError(
                    f"{operation} stopped while releasing the blade, but the arm has left the place since: "
                    "check whether the blade is in the gripper or at its place, then resume"
                )
            self.gripper.open()  # finish the release where it was under way (a no-op if it happened)
            self.journal.write({"operation": operation, "milestone": "released"})
            return "released"
        if milestone == "released":
            return "released"
        raise PickPlaceResumeError(
            f"{operation}: unknown pick-and-place milestone {milestone!r} in the journal"
        )
