"""The work behind each cycle state, over the cell's devices and services.

`CellCycleSteps` turns one inspection job into the `CycleSteps` that `platform_control.cycle`'s state
machine runs. It only talks to a `CellServices` object: the coordinator node passes ROS proxies (action
and service clients that implement the `platform_control.hardware` protocols), the unit tests pass the
simulator's drivers and in-process fakes. Same steps, any transport.

Per state:
* LOADING / UNLOADING: `motion.CellMotion` (stage to its load pose, then the arm's pick-and-place plan);
  ``journal`` keeps its gripper milestones durable (the runner passes the cycle journal), so a run
  after a crash finishes the operation from where the blade is instead of picking it again.
* SCANNING, viewpoint i: stage to the plan's pose i (a synchronised point-to-point move from where the
  stage is), capture every light channel at the measured pose and store the capture durably (imaging
  hands the frames to the store itself); the store's reference goes into the journal, so a resumed
  scan never captures viewpoint i again.
* needs_design: no deployed model for the part family in the registry.
* DESIGNING: export the family's labelled captures, run AutoNAD (model designer), which registers and
  deploys the model; the model version is the step's result.
* DETECTING: the detector on every stored capture with ONE model version (the designed one, else the
  deployed one at the first call); sightings of one defect from several viewpoints become one record
  (`defect_regions.merge_views`, by blade-surface location); the defects are written to one detections
  file atomically at the end, so a detector crash leaves nothing half-written.
* RECORDING: the recorder commits cycle, captures, defects and verdict in one transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from platform_control.cycle.acceptance import AcceptanceRules, judge, verdict_label
from platform_control.cycle.detections import CaptureDetections, DetectionsFile
from platform_control.cycle.motion import CellMotion, PickPlaceJournal
from platform_control.cycle.records import CycleProgress, Detection
from platform_control.cycle.refs import viewpoint_of
from platform_control.cycle.services import CellServices, CycleJob, Notify, RecordRequest
from platform_control.cycle.steps import CycleSteps
from platform_control.defect_regions import merge_views
from platform_control.params import StageParams
from platform_control.pick_place import PickPlacePlanner


@dataclass
class StepsContext:
    """Cell constants the steps need: planners, the stage's limits, acceptance rules, data root."""

    planner: PickPlacePlanner
    stage_params: StageParams
    stage_load_axes: np.ndarray
    acceptance: AcceptanceRules
    home: Path
    notify: Notify = field(default=lambda message: None)


class CellCycleSteps:
    """The callables of one cycle (see module docstring); `as_steps()` hands them to the machine.

    ``timings()`` gives the per-state durations so far and ``started_at`` the cycle's start, for the
    record; ``cancel`` is set by the runner when the cycle must stop (e-stop, abort).
    """

    def __init__(
        self,
        services: CellServices,
        job: CycleJob,
        scan_axes: np.ndarray,
        context: StepsContext,
        *,
        timings: Callable[[], dict[str, float]],
        started_at: float,
        cancel: threading.Event,
        journal: PickPlaceJournal | None = None,
    ) -> None:
        self.services = services
        self.job = job
        self.scan_axes = np.asarray(scan_axes, dtype=float).reshape(-1, 5)
        self.ctx = context
        self.timings = timings
        self.started_at = started_at
        self.cancel = cancel
        self.motion = CellMotion(
            services.arm,
            services.stage,
            services.gripper,
            context.planner,
            context.stage_params,
            context.stage_load_axes,
            context.notify,
            journal or PickPlaceJournal.in_memory(),
        )

    def as_steps(self) -> CycleSteps:
        return CycleSteps(
            load=self.load,
            scan_viewpoint=self.scan_viewpoint,
            detect=self.detect,
            record=self.record,
            unload=self.unload,
            halt_motion=self.services.halt_motion,
            needs_design=self.needs_design,
            design=self.design,
        )

    # ------------------------------------------------------------------------------ motion
    def load(self) -> None:
        self.motion.load()

    def unload(self, reject: bool) -> None:
        self.motion.unload(reject)

    # -------------------------------------------------------------------------------- scan
    def scan_viewpoint(self, index: int) -> str:
        self.motion.stage_to(self.scan_axes[index], f"viewpoint {index + 1}/{len(self.scan_axes)}")
        measured = np.asarray(self.services.stage.joint_state().positions, dtype=float)
        ref = self.services.capture(self.job, index, measured)
        if viewpoint_of(ref) != index:
            raise ValueError(f"imaging stored viewpoint {viewpoint_of(ref)} ({ref}), asked for {index}")
        return ref

    # ------------------------------------------------------------------------------ design
    def needs_design(self) -> bool:
        return self.services.deployed_model(self.job.part_family, self.ctx.notify, self.cancel) is None

    def design(self) -> str:
        self.ctx.notify(f"exporting the labelled captures of {self.job.part_family}")
        dataset = self.services.export_dataset(self.job.part_family)
        return self.services.design(self.job.part_family, dataset, self.ctx.notify, self.cancel)

    # ------------------------------------------------------------------------------ detect
    def detect(self, capture_refs: Sequence[str], model_ref: str | None) -> Detection:
        version = model_ref
        captures: dict[int, CaptureDetections] = {}
        defects: list[dict[str, Any]] = []
        for n, ref in enumerate(capture_refs):
            if self.cancel.is_set():
                raise InterruptedError("detection stopped")
            self.ctx.notify(f"detecting {n + 1}/{len(capture_refs)}")
            result = self.services.detect(self.job.part_family, version, ref)
            version = version or result.model_version
            if result.model_version != version:
                raise RuntimeError(f"detector used model {result.model_version}, expected {version}")
            viewpoint = viewpoint_of(ref)
            captures[viewpoint] = CaptureDetections(
                ref, result.mask_path, result.mask_sha256, result.width, result.height, result.inference_ms
            )
            defects += [{**r, "viewpoint_index": viewpoint} for r in result.regions]
        defects = merge_views(defects)  # a defect seen from two viewpoints is one record
        verdict = judge(defects, self.ctx.acceptance)
        detections = DetectionsFile(
            cycle_id=self.job.cycle_id,
            part_family=self.job.part_family,
            model_version=version,
            verdict=verdict.label,
            reasons=verdict.reasons,
            captures=captures,
            defects=defects,
        )
        return Detection(detections.write(self.ctx.home), len(defects), verdict.reject, version)

    # ------------------------------------------------------------------------------ record
    def record(self, progress: CycleProgress) -> str:
        detection = progress.detection
        request = RecordRequest(
            job=self.job,
            final_state="done",
            verdict=verdict_label(bool(detection and detection.reject)),
            started_at=self.started_at,
            finished_at=time.time(),
            stage_timings=self.timings(),
            model_version=detection.model_version if detection else None,
            capture_refs=progress.ordered_capture_refs(),
            detections_ref=detection.ref if detection else None,
        )
        record_id = self.services.record(request, self.ctx.notify, self.cancel)
        return f"record:{record_id}"
