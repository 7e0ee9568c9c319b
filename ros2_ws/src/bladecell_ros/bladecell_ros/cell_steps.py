"""The work behind each cycle state, over the cell's devices and services (ROS-free).

`CellCycleSteps` turns one inspection job into the `CycleSteps` that `platform_control.cycle`'s state
machine runs. It only talks to a `CellServices` object: the coordinator node passes ROS proxies (action
and service clients that implement the `platform_control.hardware` protocols), the unit tests pass the
simulator's drivers and in-process fakes. Same steps, any transport.

Per state:
* LOADING: stage to its load pose, then the arm's pick-and-place LOAD plan (tray -> fixture).
* SCANNING, viewpoint i: stage to the plan's pose i (a synchronised point-to-point move from where the
  stage is), capture every light channel at the measured pose, store the capture durably; the
  store's reference goes into the journal, so a resumed scan never captures viewpoint i again.
* needs_design: no deployed model for the part family in the registry.
* DESIGNING: export the family's labelled captures, run AutoNAD (model designer), which registers and
  deploys the model; the model version is the step's result.
* DETECTING: the detector on every stored capture with ONE model version (the designed one, else the
  deployed one at the first call); the defects of all captures are written to one detections file
  atomically at the end, so a detector crash leaves nothing half-written.
* RECORDING: the recorder commits cycle, captures, defects and verdict in one transaction.
* UNLOADING: stage to its load pose, arm UNLOAD plan to the tray (pass) or the reject bin (fail).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bladecell_ros.acceptance import AcceptanceRules, judge
from bladecell_ros.capture_store import safe_name, viewpoint_of
from platform_control.atomic_io import atomic_write_text
from platform_control.cycle import CycleProgress, CycleSteps, Detection
from platform_control.hardware import ArmDriver, Gripper, StageDriver
from platform_control.imaging import Capture
from platform_control.params import StageParams
from platform_control.pick_place import PickPlacePlanner, execute_pick_place
from platform_control.trajectory import time_parameterize

Notify = Callable[[str], None]


@dataclass(frozen=True)
class CycleJob:
    """What the technician asked for; kept in the cycle journal's metadata."""

    cycle_id: str
    blade_serial: str
    part_family: str
    operator: str = ""
    request_uuid: str | None = None
    force_redesign: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CycleJob:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class CaptureResult:
    """A capture and, in the simulator, its ground-truth class mask. Shape: label (H, W) uint8."""

    capture: Capture
    label: np.ndarray | None = None
    label_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DetectResult:
    """The detector's answer for one capture; regions are `DefectRegion.to_dict()` records."""

    model_version: str
    regions: list[dict[str, Any]]
    mask_path: str
    mask_sha256: str
    width: int
    height: int
    inference_ms: float = 0.0


@dataclass(frozen=True)
class RecordRequest:
    """Everything the recorder needs to write one cycle."""

    job: CycleJob
    final_state: str
    verdict: str
    started_at: float
    finished_at: float
    stage_timings: dict[str, float]
    model_version: str | None
    capture_refs: tuple[str, ...]
    detections_ref: str | None


class CellServices(Protocol):
    """The devices and services a cycle uses (ROS proxies in the cell, fakes in unit tests)."""

    arm: ArmDriver
    stage: StageDriver
    gripper: Gripper

    def capture(self, cycle_id: str, viewpoint_index: int, stage_axes: np.ndarray) -> CaptureResult: ...

    def store(self, job: CycleJob, result: CaptureResult) -> str: ...

    def deployed_model(self, part_family: str) -> str | None: ...

    def export_dataset(self, part_family: str) -> str: ...

    def design(self, part_family: str, dataset_dir: str, notify: Notify, cancel: threading.Event) -> str: ...

    def detect(self, part_family: str, model_version: str | None, capture_ref: str) -> DetectResult: ...

    def record(self, request: RecordRequest, notify: Notify, cancel: threading.Event) -> int: ...

    def halt_motion(self) -> None: ...


@dataclass
class StepsContext:
    """Cell constants the steps need: planners, the stage's limits, acceptance rules, data root."""

    planner: PickPlacePlanner
    stage_params: StageParams
    stage_load_axes: np.ndarray
    acceptance: AcceptanceRules
    home: Path
    notify: Notify = field(default=lambda message: None)


def detections_path(home: Path, job: CycleJob) -> Path:
    return home / "detections" / safe_name(job.part_family) / f"{safe_name(job.cycle_id)}.json"


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
    ) -> None:
        self.services = services
        self.job = job
        self.scan_axes = np.asarray(scan_axes, dtype=float).reshape(-1, 5)
        self.ctx = context
        self.timings = timings
        self.started_at = started_at
        self.cancel = cancel

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
    def _stage_to(self, target: np.ndarray, what: str) -> None:
        stage = self.services.stage
        p = self.ctx.stage_params
        limits = np.asarray(p.limits, dtype=float)
        # a drive settles within its tolerance, possibly a hair beyond a limit it was sent to: plan from
        # the nearest position inside the limits (the driver accepts a start within its tolerance)
        current = np.clip(np.asarray(stage.joint_state().positions, dtype=float), limits[:, 0], limits[:, 1])
        if np.max(np.abs(current - target)) < 1e-6:
            return
        traj = time_parameterize(
            np.array([current, target]), p.max_velocity, p.max_acceleration, p.axis_names
        )
        self.ctx.notify(f"stage to {what} ({traj.duration:.1f} s)")
        stage.follow(traj)

    def _pick_place(self, plan) -> None:
        self.ctx.notify(f"arm: {plan.operation} ({plan.duration:.1f} s)")
        execute_pick_place(plan, self.services.arm, self.services.gripper)

    def load(self) -> None:
        self._stage_to(self.ctx.stage_load_axes, "load pose")
        self._pick_place(self.ctx.planner.plan_load(self.services.arm.joint_state().positions))

    def unload(self, reject: bool) -> None:
        self._stage_to(self.ctx.stage_load_axes, "load pose")
        self._pick_place(self.ctx.planner.plan_unload(reject, self.services.arm.joint_state().positions))

    # -------------------------------------------------------------------------------- scan
    def scan_viewpoint(self, index: int) -> str:
        self._stage_to(self.scan_axes[index], f"viewpoint {index + 1}/{len(self.scan_axes)}")
        measured = np.asarray(self.services.stage.joint_state().positions, dtype=float)
        result = self.services.capture(self.job.cycle_id, index, measured)
        if result.capture.viewpoint_index != index:
            raise ValueError(
                f"imaging returned viewpoint {result.capture.viewpoint_index}, asked for {index}"
            )
        return self.services.store(self.job, result)

    # ------------------------------------------------------------------------------ design
    def needs_design(self) -> bool:
        return self.services.deployed_model(self.job.part_family) is None

    def design(self) -> str:
        self.ctx.notify(f"exporting the labelled captures of {self.job.part_family}")
        dataset = self.services.export_dataset(self.job.part_family)
        return self.services.design(self.job.part_family, dataset, self.ctx.notify, self.cancel)

    # ------------------------------------------------------------------------------ detect
    def detect(self, capture_refs: Sequence[str], model_ref: str | None) -> Detection:
        version = model_ref
        captures: dict[str, Any] = {}
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
            captures[str(viewpoint)] = {
                "capture_ref": ref,
                "mask_path": result.mask_path,
                "mask_sha256": result.mask_sha256,
                "width": result.width,
                "height": result.height,
                "inference_ms": result.inference_ms,
            }
            defects += [{**r, "viewpoint_index": viewpoint} for r in result.regions]
        verdict = judge(defects, self.ctx.acceptance)
        path = detections_path(self.ctx.home, self.job)
        payload = {
            "cycle_id": self.job.cycle_id,
            "part_family": self.job.part_family,
            "model_version": version,
            "verdict": verdict.label,
            "reasons": list(verdict.reasons),
            "captures": captures,
            "defects": defects,
            "written_at": time.time(),
        }
        atomic_write_text(path, json.dumps(payload, indent=1))
        return Detection(path.relative_to(self.ctx.home).as_posix(), len(defects), verdict.reject)

    # ------------------------------------------------------------------------------ record
    def record(self, progress: CycleProgress) -> str:
        detection = progress.detection
        model_version = None
        if detection is not None:
            model_version = json.loads((self.ctx.home / detection.ref).read_text())["model_version"]
        request = RecordRequest(
            job=self.job,
            final_state="done",
            verdict="fail" if detection and detection.reject else "pass",
            started_at=self.started_at,
            finished_at=time.time(),
            stage_timings=self.timings(),
            model_version=model_version,
            capture_refs=progress.ordered_capture_refs(),
            detections_ref=detection.ref if detection else None,
        )
        record_id = self.services.record(request, self.ctx.notify, self.cancel)
        return f"record:{record_id}"
