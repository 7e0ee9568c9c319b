"""What only the simulator adds to a cycle: a capture at a stage pose with its ground truth.

The motions (stage moves, LOAD, UNLOAD) are the cell's own (`platform_control.cycle.motion.CellMotion`)
over the simulated drivers, so the simulator has no load/unload of its own: scripts that drive a bare
`SimCell` (benchmarks, tests) without the cycle machine call `SimulatedCellRun.motion.load()` /
`.unload()` and `SimulatedCellRun.scan`, which is only `capture_at` over a list of poses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from platform_control.cycle.motion import CellMotion
from platform_control.imaging import ImagingPlan, MultispectralCapture, capture_viewpoint, load_imaging_plan
from platform_control.pick_place import PickPlacePlanner
from platform_control.sim.cell import SimCell
from platform_control.sim.drivers import SimDrivers


@dataclass
class LabelledCapture:
    """A capture with its pixel-exact class mask and defect instance map (H, W)."""

    capture: MultispectralCapture
    mask: np.ndarray
    instances: np.ndarray


def cell_motion(cell: SimCell, drivers: SimDrivers | None = None) -> CellMotion:
    """The cell's motions on a bare `SimCell` (its simulated drivers, the platform's planners)."""
    drivers = drivers or SimDrivers(cell)
    planner = PickPlacePlanner.for_cell(cell.arm_params, cell.stage_params, cell.layout, cell.pick_place)
    return CellMotion(
        drivers.arm,
        drivers.stage,
        drivers.gripper,
        planner,
        cell.stage_params,
        np.array(cell.pick_place.stage_load_axes, dtype=float),
    )


class SimulatedCellRun:
    """A bare `SimCell` with the cell's motions and the simulator's labelled capture."""

    def __init__(self, cell: SimCell, imaging: ImagingPlan | None = None) -> None:
        self.cell = cell
        self.drivers = SimDrivers(cell)
        self.imaging = imaging or load_imaging_plan()
        self.motion = cell_motion(cell, self.drivers)
        self.pick_place = self.motion.planner

    def capture_at(self, index: int, axes: np.ndarray) -> LabelledCapture:
        """Move the stage to `axes`, settle, fire every channel of the imaging plan."""
        self.motion.stage_to(np.asarray(axes, dtype=float), f"viewpoint {index}")
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
