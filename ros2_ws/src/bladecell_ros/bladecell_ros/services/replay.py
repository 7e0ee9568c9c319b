"""Replay rendered blades through the cell's DETECTING and RECORDING steps, without motion (ROS-free).

Why: the model-life test and benchmark need many inspected blades (normal, then with shifted
appearance) in seconds, not a simulated arm and stage for each. Each blade of a simulator dataset
folder (`bladecell sim dataset`, `platform_control.sim.dataset`) becomes one cycle: its views are
stored as captures in the cell's capture store (with the simulator's mask as their label, as SCANNING
stores them), then `CellCycleSteps.detect` runs the family's deployed model on every capture with one
model version per cycle, exactly as in the cell, and the cycle is recorded by the real recorder.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bladecell_ros.services.capture_store import CaptureStore
from bladecell_ros.services.detection import CaptureDetector, load_autonad_detector, registry_resolver
from bladecell_ros.services.recording import build_cycle_record
from platform_control.cycle.acceptance import AcceptanceRules, verdict_label
from platform_control.cycle.cell_steps import CellCycleSteps, StepsContext
from platform_control.cycle.runner import new_cycle_id
from platform_control.cycle.services import CycleJob, DetectResult, RecordRequest
from platform_control.imaging import MultispectralCapture
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.stage import StageKinematics


@dataclass(frozen=True)
class ReplayedCycle:
    cycle_id: str
    blade_serial: str
    model_version: str | None
    defect_count: int
    record_id: int
    stems: tuple[str, ...]


def read_blades(dataset_dir: Path) -> dict[int, list[dict[str, Any]]]:
    """Blade number -> its views ({stem, stage_axes}) from the dataset's meta files."""
    blades = {}
    for meta_file in sorted((Path(dataset_dir) / "meta").glob("b*.json")):
        meta = json.loads(meta_file.read_text())
        blades[int(meta["blade"])] = meta["views"]
    if not blades:
        raise FileNotFoundError(f"{dataset_dir}/meta: no blade meta files (not a simulator dataset?)")
    return blades


class ReplayCell:
    """The cell's detect/record services over one data root and database (see module docstring)."""

    arm = stage = gripper = None  # no motion: CellCycleSteps.detect and record never touch them

    def __init__(self, home: Path, factory: Any, *, threads: int = 1) -> None:
        from database.services import CycleRecorder, ModelRegistry

        self.home = Path(home)
        self.captures = CaptureStore(self.home)
        self.registry = ModelRegistry(factory)
        self.recorder = CycleRecorder(factory)
        camera = load_camera_params()
        self.detector = CaptureDetector(
            self.captures,
            registry_resolver(self.registry, self.home),
            load_autonad_detector("cpu", threads),
            camera,
            StageKinematics(load_stage_params(), load_cell_layout(), camera),
        )

    def detect(self, part_family: str, model_version: str | None, capture_ref: str) -> DetectResult:
        return self.detector.detect(part_family, model_version, capture_ref)

    def record(self, request: RecordRequest, notify: Any, cancel: threading.Event) -> int:
        return self.recorder.record(build_cycle_record(request, "replay-cell", self.captures)).cycle_id

    def halt_motion(self) -> None:
        """Nothing moves."""

    def inspect(
        self,
        dataset_dir: Path,
        blade: int,
        views: list[dict[str, Any]],
        family: str,
        serial: str,
        *,
        detect: bool = True,
    ) -> ReplayedCycle:
        """One blade's views as one recorded cycle, detected by the family's deployed model
        (`detect=False`: captures only, as for a new family that has no model yet)."""
        from autonad_core.data.image_io import read_image, read_mask
        from autonad_core.data.spec import DatasetSpec

        dataset_dir = Path(dataset_dir)
        spec = DatasetSpec.from_yaml(dataset_dir / "dataset.yaml")
        job = CycleJob(new_cycle_id(), serial, family, operator="replay")
        started = time.time()
        refs = []
        for index, view in enumerate(views):
            image = read_image(dataset_dir / "images" / view["stem"], spec.channels)  # (H, W, C)
            label = read_mask(dataset_dir / "masks" / f"{view['stem']}.png")
            n = len(spec.channels)
            capture = MultispectralCapture(
                viewpoint_index=index,
                stage_axes=np.asarray(view["stage_axes"], dtype=float),
                channels=tuple(spec.channels),
                exposure_ms=(1.0,) * n,
                gain=(0.0,) * n,
                timestamps=(time.time(),) * n,
                frames=np.ascontiguousarray(np.moveaxis(image, -1, 0)),
            )
            refs.append(
                self.captures.put(
                    capture,
                    cycle_id=job.cycle_id,
                    blade_serial=serial,
                    part_family=family,
                    label=label,
                    label_classes=spec.classes,
                )
            )
        context = StepsContext(
            planner=None, stage_params=None, stage_load_axes=np.zeros(5), acceptance=AcceptanceRules(),
            home=self.home,
        )  # fmt: skip
        steps = CellCycleSteps(
            self, job, np.zeros((0, 5)), context, timings=dict, started_at=started, cancel=threading.Event()
        )
        detection = steps.detect(refs, None) if detect else None
        request = RecordRequest(
            job=job,
            final_state="done",
            verdict=verdict_label(bool(detection and detection.reject)),
            started_at=started,
            finished_at=time.time(),
            stage_timings={},
            model_version=detection.model_version if detection else None,
            capture_refs=tuple(refs),
            detections_ref=detection.ref if detection else None,
        )
        record_id = self.record(request, None, threading.Event())
        return ReplayedCycle(
            job.cycle_id,
            serial,
            detection.model_version if detection else None,
            detection.defect_count if detection else 0,
            record_id,
            tuple(v["stem"] for v in views),
        )
