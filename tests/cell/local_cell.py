"""An in-process cell for the ROS-free tests: the simulator's drivers, the real capture store, detector
core and recorder, and a fake designer; `CellServices` without ROS."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bladecell_ros.capture_store import CaptureStore
from bladecell_ros.designer import ModelDesigner
from bladecell_ros.detection import CaptureDetector, registry_resolver
from bladecell_ros.recording import CycleSummary, build_cycle_record

from platform_control.cycle.acceptance import AcceptanceRules
from platform_control.cycle.cell_steps import StepsContext
from platform_control.cycle.services import CaptureResult, CycleJob, DetectResult, RecordRequest
from platform_control.hardware import DeviceUnreachable
from platform_control.imaging import capture_viewpoint, load_imaging_plan
from platform_control.params import load_arm_params, load_camera_params, load_cell_layout, load_stage_params
from platform_control.pick_place import PickPlacePlanner, load_pick_place_config
from platform_control.sim.cell import SimConfig
from platform_control.sim.world import SimBladeSpec, SimWorld
from platform_control.stage import StageKinematics

FAMILY = "HPT-LOCAL"


@dataclass
class _Prediction:
    mask: np.ndarray
    probabilities: np.ndarray


class OraclePredictor:
    """A 'model' that answers the simulator's ground truth of the exact frames it is given."""

    def __init__(
        self, truth: dict[str, np.ndarray], channels: tuple[str, ...], classes: tuple[str, ...]
    ) -> None:
        self.truth, self.channels, self.class_names = truth, channels, classes

    def predict(self, image: np.ndarray) -> _Prediction:
        key = hashlib.sha256(np.ascontiguousarray(np.moveaxis(image, -1, 0)).tobytes()).hexdigest()
        mask = self.truth[key]
        probs = np.zeros((len(self.class_names), *mask.shape), np.float32)
        np.put_along_axis(probs, mask[None].astype(np.int64), 0.9, axis=0)
        probs[0][mask != 0] = 0.1
        return _Prediction(mask, probs)


def fake_design(dataset_dir, out_dir, *, preset, device, target_device, progress, overrides, show_progress):
    """Stands in for `autonad_core.design`: reports progress and writes a model folder (no training)."""
    from types import SimpleNamespace

    from autonad_core.progress import ProgressEvent

    for stage in ("supernet", "search", "retrain", "evaluate"):
        for fraction in (0.5, 1.0):
            progress(ProgressEvent(stage, fraction, f"{stage} {fraction}"))
    model_dir = Path(out_dir) / "retrain" / "best"
    model_dir.mkdir(parents=True)
    arch = Path(out_dir) / "search" / "best_arch.json"
    arch.parent.mkdir(parents=True)
    arch.write_text('{"stages": [], "oracle": true}')
    (model_dir / "weights.pt").write_bytes(b"oracle weights")
    metrics = {"split": "val", "miou": 1.0, "iou": {"background": 1.0, "crack": float("nan")}}
    return SimpleNamespace(
        model_dir=model_dir,
        arch_json=arch,
        metrics=metrics,
        latency_ms=1.5,
        target_device=target_device,
        params=1,
    )


class LocalCellServices:
    """`CellServices` on one `SimWorld`, in-process. Fault hooks: `fail_capture_at`, `fail_detect_at`."""

    def __init__(self, world: SimWorld, home: Path) -> None:
        from database.services import CycleRecorder

        self.world = world
        self.arm, self.stage, self.gripper = world.arm, world.stage, world.gripper
        self.captures = CaptureStore(home)
        self.plan = load_imaging_plan()
        self.truth: dict[str, np.ndarray] = {}
        from database.services import ModelRegistry

        self.registry = ModelRegistry()
        self.designer = ModelDesigner(home, self.registry, design_fn=fake_design)
        self.capture_calls: Counter[int] = Counter()
        self.fail_capture_at: set[int] = set()
        self.fail_detect_at: set[int] = set()
        self.detect_calls = 0
        self.designs: list[str] = []
        camera = load_camera_params()
        self.detector = CaptureDetector(
            self.captures,
            registry_resolver(self.registry, home),
            lambda _dir: OraclePredictor(self.truth, self.plan.order, tuple(world.label_classes)),
            camera,
            StageKinematics(load_stage_params(), load_cell_layout(), camera),
        )
        self.recorder = CycleRecorder()

    def capture(self, cycle_id: str, viewpoint_index: int, stage_axes: np.ndarray) -> CaptureResult:
        self.capture_calls[viewpoint_index] += 1
        if viewpoint_index in self.fail_capture_at:
            self.fail_capture_at.discard(viewpoint_index)
            raise DeviceUnreachable("imaging", "service imaging/capture: the server went away")
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
        label = camera.last_label()
        self.truth[hashlib.sha256(np.ascontiguousarray(capture.frames).tobytes()).hexdigest()] = label
        return CaptureResult(capture, label, tuple(self.world.label_classes))

    def store(self, job: CycleJob, result: CaptureResult) -> str:
        return self.captures.put(
            result.capture,
            cycle_id=job.cycle_id,
            blade_serial=job.blade_serial,
            part_family=job.part_family,
            label=result.label,
            label_classes=result.label_classes,
        )

    def deployed_model(self, part_family: str) -> str | None:
        info = self.registry.deployed_for(part_family)
        return info.version if info else None

    def export_dataset(self, part_family: str) -> str:
        return str(self.captures.export(part_family).dataset_dir)

    def design(self, part_family, dataset_dir, notify, cancel: threading.Event) -> str:
        outcome = self.designer.run(part_family, dataset_dir, cancel=cancel)
        self.designs.append(outcome.version)
        notify(f"designed {outcome.version}")
        return outcome.version

    def deploy_oracle(self, part_family: str = FAMILY, version: str = "oracle-0") -> str:
        """A deployed model without a design step (for tests that start after DESIGNING)."""
        from database.services import ModelCandidate

        folder = self.captures.home / "models" / version
        folder.mkdir(parents=True, exist_ok=True)
        self.registry.register_candidate(
            ModelCandidate(
                version=version, part_family=part_family, architecture={}, weights_path=str(folder)
            )
        )
        self.registry.deploy(version)
        return version

    def detect(self, part_family: str, model_version: str | None, capture_ref: str) -> DetectResult:
        self.detect_calls += 1
        if self.detect_calls in self.fail_detect_at:
            raise DeviceUnreachable("detector", "service detector/detect: the server went away")
        out = self.detector.detect(part_family, model_version, capture_ref)
        stored = self.captures.files.put_image(out.mask)
        h, w = out.mask.shape
        return DetectResult(
            out.model_version, out.regions, stored.path, stored.sha256, w, h, out.inference_ms
        )

    def record(self, request: RecordRequest, notify, cancel) -> int:
        job = request.job
        summary = CycleSummary(
            job.cycle_id,
            job.blade_serial,
            job.part_family,
            "local-cell",
            job.operator,
            job.request_uuid,
            request.final_state,
            request.verdict,
            request.started_at,
            request.finished_at,
            request.stage_timings,
            request.model_version,
            request.capture_refs,
            request.detections_ref,
        )
        return self.recorder.record(build_cycle_record(summary, self.captures)).cycle_id

    def halt_motion(self) -> None:
        self.world.arm.stop()
        self.world.stage.stop()


def make_world(home: Path, timing: str = "deterministic", speed: float = 1.0) -> SimWorld:
    spec = SimBladeSpec(defects_min=8, defects_max=8, defect_classes=("burn", "coating_loss"))
    return SimWorld(
        spec, SimConfig(timing=timing, speed=speed), resolution=64, state_file=home / "sim" / "world.json"
    )


def make_context(home: Path) -> StepsContext:
    arm, stage, layout = load_arm_params(), load_stage_params(), load_cell_layout()
    pick_place = load_pick_place_config()
    return StepsContext(
        planner=PickPlacePlanner.for_cell(arm, stage, layout, pick_place),
        stage_params=stage,
        stage_load_axes=np.array(pick_place.stage_load_axes),
        acceptance=AcceptanceRules(),
        home=home,
    )
