"""Running the simulated cell: LOAD, SCAN (stage tour + multispectral captures) and UNLOAD.

Uses only the hardware protocols (`SimDrivers`) and the platform's own planners (pick-and-place plans,
time-parameterised stage moves, the imaging sequence), so what runs here is what runs on the real cell;
the simulator adds the ground truth (class masks) of every capture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from platform_control.cycle import CycleProgress, CycleSteps, Detection
from platform_control.imaging import Capture, ImagingPlan, capture_viewpoint, load_imaging_plan
from platform_control.pick_place import PickPlacePlanner, execute_pick_place
from platform_control.sim.cell import SimCell
from platform_control.sim.drivers import SimDrivers
from platform_control.trajectory import time_parameterize


@dataclass
class LabelledCapture:
    """A capture with its pixel-exact class mask and defect instance map (H, W)."""

    capture: Capture
    mask: np.ndarray
    instances: np.ndarray


class SimulatedCellRun:
    """LOAD / SCAN / UNLOAD on a `SimCell` through its simulated drivers."""

    def __init__(self, cell: SimCell, imaging: ImagingPlan | None = None) -> None:
        self.cell = cell
        self.drivers = SimDrivers(cell)
        self.imaging = imaging or load_imaging_plan()
        self.pick_place = PickPlacePlanner.for_cell(
            cell.arm_params, cell.stage_params, cell.layout, cell.pick_place
        )

    def _stage_to(self, axes: np.ndarray, progress_cb: Callable[[float], None] | None = None) -> None:
        stage = self.cell.stage_params
        current = self.drivers.stage.joint_state().positions
        if np.max(np.abs(np.asarray(axes) - current)) < 1e-9:
            return
        traj = time_parameterize(
            np.array([current, axes]), stage.max_velocity, stage.max_acceleration, stage.axis_names
        )
        self.drivers.stage.follow(traj, progress_cb)

    def load(self) -> None:
        """Tray -> fixture: the stage goes to its load pose, then the arm runs the LOAD plan.
        Re-runnable: a blade already in the fixture stays there."""
        if self.cell.blade_holder == "fixture":
            return
        self._stage_to(np.array(self.cell.pick_place.stage_load_axes))
        plan = self.pick_place.plan_load(self.drivers.arm.joint_state().positions)
        execute_pick_place(plan, self.drivers.arm, self.drivers.gripper)

    def unload(self, reject: bool = False) -> None:
        """Fixture -> tray (or reject bin): stage back to the load pose, then the UNLOAD plan.
        Re-runnable: nothing happens once the blade is out of the fixture."""
        if self.cell.blade_holder != "fixture":
            return
        self._stage_to(np.array(self.cell.pick_place.stage_load_axes))
        plan = self.pick_place.plan_unload(reject, self.drivers.arm.joint_state().positions)
        execute_pick_place(plan, self.drivers.arm, self.drivers.gripper)

    def reset(self) -> None:
        """Clear the drives' e-stop latches (after `InspectionCycle.reset_estop`, before `resume`)."""
        self.cell.reset()

    def capture_at(self, index: int, axes: np.ndarray) -> LabelledCapture:
        """Move the stage to `axes`, settle, fire every channel of the imaging plan."""
        self._stage_to(np.asarray(axes, dtype=float))
        self.cell.wait(self.cell.stage_params.settle_time)
        measured = self.drivers.stage.joint_state().positions
        capture = capture_viewpoint(
            self.imaging,
            self.drivers.lights,
            self.drivers.camera,
            index,
            measured,
            clock=lambda: self.cell.time,
            wait=self.cell.wait,
        )
        camera = self.drivers.camera
        assert camera.last_mask is not None and camera.last_instances is not None
        return LabelledCapture(capture, camera.last_mask, camera.last_instances)

    def scan(
        self,
        axes: Sequence[np.ndarray] | np.ndarray,
        on_capture: Callable[[LabelledCapture], None] | None = None,
    ) -> list[LabelledCapture]:
        """Visit the stage poses (N, 5) in order and capture at each."""
        out = []
        for i, row in enumerate(np.atleast_2d(np.asarray(axes, dtype=float))):
            labelled = self.capture_at(i, row)
            if on_capture is not None:
                on_capture(labelled)
            out.append(labelled)
        return out

    def cycle_steps(
        self,
        viewpoint_axes: np.ndarray,
        store: Callable[[LabelledCapture], str],
        detect: Callable[[Sequence[str], str | None], Detection] | None = None,
        record: Callable[[CycleProgress], str] | None = None,
    ) -> CycleSteps:
        """The steps of `platform_control.cycle.InspectionCycle` on this simulated cell.

        `store` keeps a capture durably and returns its reference. Without `detect`, a ground-truth
        detector counts the defect instances the stored captures show (the simulator knows them) and
        rejects the blade if there is any; without `record`, recording is a no-op returning the cycle id.
        """
        axes = np.atleast_2d(np.asarray(viewpoint_axes, dtype=float))
        seen: dict[str, set[int]] = {}

        def scan_viewpoint(i: int) -> str:
            labelled = self.capture_at(i, axes[i])
            ref = store(labelled)
            seen[ref] = {int(v) for v in np.unique(labelled.instances) if v >= 0}
            return ref

        def truth(refs: Sequence[str], model: str | None) -> Detection:
            found = set().union(*(seen.get(r, set()) for r in refs)) if refs else set()
            return Detection(ref="simulator-ground-truth", defect_count=len(found), reject=bool(found))

        return CycleSteps(
            load=self.load,
            scan_viewpoint=scan_viewpoint,
            detect=detect or truth,
            record=record or (lambda progress: f"sim-{progress.cycle_id}"),
            unload=self.unload,
            halt_motion=self.cell.stop,
        )
