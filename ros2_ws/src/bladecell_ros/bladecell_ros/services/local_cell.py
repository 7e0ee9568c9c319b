"""The cell's services in one process: `CellServices` on a `SimWorld` without ROS.

Why: the same cycle (`platform_control.cycle.runner`) runs against the ROS proxies
(`transport.ros_services.RosCellServices`) in the running cell and against this class in tests and
tools: the simulated world's drivers, the real capture store, detector, model designer and recorder,
called directly. What the ROS cell does over the wire (capture at the imaging node, store, detect,
design, record) is one method call each here, each database call through `db_outage.OutageGuard` (a
short outage is waited out); the detector and designer can be injected (a test uses an oracle
predictor and a design that trains nothing). ``families`` is the cell's part-family config, read here
as the model designer node reads it: for the families that are `like` another.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from bladecell_ros.services.capture_store import CaptureStore
from bladecell_ros.services.db_outage import OutageGuard
from bladecell_ros.services.designer import ModelDesigner
from bladecell_ros.services.detection import CaptureDetector, load_autonad_detector, registry_resolver
from bladecell_ros.services.model_watch import ModelWatch
from bladecell_ros.services.recording import build_cycle_record
from platform_control.cycle.acceptance import AcceptanceRules
from platform_control.cycle.cell_steps import StepsContext
from platform_control.cycle.services import CaptureResult, CycleJob, DetectResult, Notify, RecordRequest
from platform_control.imaging import ImagingPlan, capture_viewpoint, load_imaging_plan
from platform_control.params import load_arm_params, load_camera_params, load_cell_layout, load_stage_params
from platform_control.part_families import PartFamilyConfig
from platform_control.pick_place import PickPlacePlanner, load_pick_place_config
from platform_control.sim.cell import SimConfig
from platform_control.sim.world import SimBladeSpec, SimWorld
from platform_control.stage import StageKinematics


class LocalCellServices:
    """`CellServices` on one `SimWorld`, in-process (see the module docstring)."""

    def __init__(
        self,
        world: SimWorld,
        home: Path,
        *,
        registry: Any = None,
        designer: ModelDesigner | None = None,
        detector: CaptureDetector | None = None,
        recorder: Any = None,
        imaging: ImagingPlan | None = None,
        cell_id: str = "local-cell",
        watch: ModelWatch | None = None,
        outage: OutageGuard | None = None,
        families: PartFamilyConfig | None = None,
    ) -> None:
        from database.services import CycleRecorder, ModelRegistry

        self.outage = outage or OutageGuard()  # every database call of the cycle waits out an outage
        self.world = world
        self.arm, self.stage, self.gripper = world.arm, world.stage, world.gripper
        self.home = Path(home)
        self.captures = CaptureStore(self.home)
        self.plan = imaging or load_imaging_plan()
        self.registry = registry if registry is not None else ModelRegistry()
        self.designer = designer or ModelDesigner(
            self.home, self.registry, outage=self.outage, likes=families.likes() if families else None
        )
        camera = load_camera_params()
        self.detector = detector or CaptureDetector(
            self.captures,
            registry_resolver(self.registry, self.home),
            load_autonad_detector("cpu", 0),
            camera,
            StageKinematics(load_stage_params(), load_cell_layout(), camera),
            on_model_loaded=watch.model_loaded if watch else None,
            outage=self.outage,
        )
        self.recorder = recorder if recorder is not None else CycleRecorder()
        self.cell_id = cell_id
        self.watch = watch  # evaluates the family's retrain/redesign triggers after each record

    def capture(self, job: CycleJob, viewpoint_index: int, stage_axes: np.ndarray) -> str:
        return self.store(job, self.take(job.cycle_id, viewpoint_index, stage_axes))

    def take(self, cycle_id: str, viewpoint_index: int, stage_axes: np.ndarray) -> CaptureResult:
        """Every light channel at the measured pose, with the simulator's class mask (not stored)."""
        camera = self.world.camera
        capture = capture_viewpoint(
            self.plan,
            self.world.lights,
            camera,
            viewpoint_index,
            stage_axes,
            clock=camera.clock,
            wait=camera.wait,
        )
        return CaptureResult(capture, camera.last_label(), tuple(self.world.label_classes))

    def store(self, job: CycleJob, result: CaptureResult) -> str:
        return self.captures.put(
            result.capture,
            cycle_id=job.cycle_id,
            blade_serial=job.blade_serial,
            part_family=job.part_family,
            label=result.label,
            label_classes=result.label_classes,
        )

    def deployed_model(self, part_family: str, notify: Notify, cancel: threading.Event) -> str | None:
        info = self.outage.call(
            f"looking up the deployed model of {part_family}",
            lambda: self.registry.deployed_for(part_family),
            notify=notify,
            cancel=cancel,
        )
        return info.version if info else None

    def export_dataset(self, part_family: str) -> str:
        return str(self.captures.export(part_family).dataset_dir)

    def design(self, part_family: str, dataset_dir: str, notify: Notify, cancel: threading.Event) -> str:
        def progress(stage: str, _fraction: float, _overall: float, message: str) -> None:
            if stage == "register":  # registering (and waiting out a database outage) is worth a line
                notify(message)

        outcome = self.designer.run(part_family, dataset_dir, progress=progress, cancel=cancel)
        notify(f"designed {outcome.summary()}")
        return outcome.version

    def detect(self, part_family: str, model_version: str | None, capture_ref: str) -> DetectResult:
        return self.detector.detect(part_family, model_version, capture_ref)

    def record(self, request: RecordRequest, notify: Notify, cancel: threading.Event) -> int:
        record = build_cycle_record(request, self.cell_id, self.captures)
        # idempotent on the cycle's UUID: a retry after a commit whose answer was lost writes nothing
        done = self.outage.call(
            f"recording cycle {request.job.cycle_id}",
            lambda: self.recorder.record(record),
            notify=notify,
            cancel=cancel,
        )
        if self.watch is not None:
            self.watch.cycle_recorded(request.job.part_family)
        return done.cycle_id

    def halt_motion(self) -> None:
        self.world.arm.stop()
        self.world.stage.stop()


def local_world(
    home: Path, blade: SimBladeSpec | None = None, config: SimConfig | None = None, resolution: int = 64
) -> SimWorld:
    """A simulated world whose state lives under ``home`` (survives a restart like the cell's)."""
    return SimWorld(
        blade or SimBladeSpec(), config, resolution=resolution, state_file=Path(home) / "sim" / "world.json"
    )


def local_context(home: Path, acceptance: AcceptanceRules | None = None) -> StepsContext:
    """The cell's constants from the parameter files, for a runner on `LocalCellServices`."""
    arm, stage, layout = load_arm_params(), load_stage_params(), load_cell_layout()
    pick_place = load_pick_place_config()
    return StepsContext(
        planner=PickPlacePlanner.for_cell(arm, stage, layout, pick_place),
        stage_params=stage,
        stage_load_axes=np.array(pick_place.stage_load_axes),
        acceptance=acceptance or AcceptanceRules(),
        home=Path(home),
    )
