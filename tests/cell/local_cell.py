"""Test parts of the in-process cell (`bladecell_ros.services.local_cell.LocalCellServices`): an oracle
predictor that answers the simulator's ground truth, a design that trains nothing, and fault hooks."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bladecell_ros.services.db_outage import OutageGuard
from bladecell_ros.services.designer import ModelDesigner
from bladecell_ros.services.detection import CaptureDetector, registry_resolver
from bladecell_ros.services.local_cell import LocalCellServices, local_context, local_world

from platform_control.cycle.cell_steps import StepsContext
from platform_control.cycle.services import CaptureResult, DetectResult
from platform_control.hardware import DeviceUnreachable
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
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


class OracleCell(LocalCellServices):
    """`LocalCellServices` with the oracle predictor, the fake design, counters and fault hooks:
    `fail_capture_at` (viewpoints), `fail_detect_at` (detect call numbers)."""

    def __init__(self, world: SimWorld, home: Path, outage: OutageGuard | None = None) -> None:
        from database.services import ModelRegistry

        registry = ModelRegistry()
        self.truth: dict[str, np.ndarray] = {}
        camera = load_camera_params()
        outage = outage or OutageGuard()
        super().__init__(
            world,
            home,
            registry=registry,
            designer=ModelDesigner(home, registry, design_fn=fake_design, outage=outage),
            detector=None,
            outage=outage,
        )
        self.detector = CaptureDetector(
            self.captures,
            registry_resolver(registry, home),
            lambda _dir: OraclePredictor(self.truth, self.plan.order, tuple(world.label_classes)),
            camera,
            StageKinematics(load_stage_params(), load_cell_layout(), camera),
            outage=outage,
        )
        self.capture_calls: Counter[int] = Counter()
        self.fail_capture_at: set[int] = set()
        self.fail_detect_at: set[int] = set()
        self.detect_calls = 0
        self.designs: list[str] = []

    def take(self, cycle_id: str, viewpoint_index: int, stage_axes: np.ndarray) -> CaptureResult:
        self.capture_calls[viewpoint_index] += 1
        if viewpoint_index in self.fail_capture_at:
            self.fail_capture_at.discard(viewpoint_index)
            raise DeviceUnreachable("imaging", "service imaging/capture: the server went away")
        result = super().take(cycle_id, viewpoint_index, stage_axes)
        key = hashlib.sha256(np.ascontiguousarray(result.capture.frames).tobytes()).hexdigest()
        self.truth[key] = result.label
        return result

    def design(self, part_family, dataset_dir, notify, cancel) -> str:
        version = super().design(part_family, dataset_dir, notify, cancel)
        self.designs.append(version)
        return version

    def detect(self, part_family: str, model_version: str | None, capture_ref: str) -> DetectResult:
        self.detect_calls += 1
        if self.detect_calls in self.fail_detect_at:
            raise DeviceUnreachable("detector", "service detector/detect: the server went away")
        return super().detect(part_family, model_version, capture_ref)

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


def make_world(home: Path, timing: str = "deterministic", speed: float = 1.0) -> SimWorld:
    spec = SimBladeSpec(defects_min=8, defects_max=8, defect_classes=("burn", "coating_loss"))
    return local_world(home, spec, SimConfig(timing=timing, speed=speed), resolution=64)


def make_context(home: Path) -> StepsContext:
    return local_context(home)
