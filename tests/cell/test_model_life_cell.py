"""The cell's side of the model's life: the detector takes a newly deployed model between cycles, never
in the middle of one; `bladecell model ...` and `bladecell status` (promote, roll back, list, flags)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bladecell_ros.services.capture_store import CaptureStore
from bladecell_ros.services.detection import CaptureDetector, registry_resolver
from typer.testing import CliRunner

from platform_control.cycle.acceptance import AcceptanceRules
from platform_control.cycle.cell_steps import CellCycleSteps, StepsContext
from platform_control.cycle.runner import new_cycle_id
from platform_control.cycle.services import CycleJob
from platform_control.imaging import MultispectralCapture
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.stage import StageKinematics

FAMILY = "HPT-ML"
CLASSES = ("background", "crack")


@dataclass
class _Prediction:
    mask: np.ndarray
    probabilities: np.ndarray


class _Blank:
    channels = ("white",)
    class_names = CLASSES

    def predict(self, image: np.ndarray) -> _Prediction:
        mask = np.zeros(image.shape[:2], np.uint8)
        return _Prediction(
            mask, np.stack([np.ones(mask.shape, np.float32), np.zeros(mask.shape, np.float32)])
        )


def _register(registry, version: str, deploy: bool) -> None:
    from database.services import ModelCandidate

    registry.register_candidate(
        ModelCandidate(
            version=version,
            part_family=FAMILY,
            architecture={},
            weights_path="models/x",
            class_names=list(CLASSES),
        )
    )
    if deploy:
        registry.deploy(version)


def test_a_model_deployed_during_a_cycle_is_used_from_the_next_cycle_on(home: Path) -> None:
    from database.services import ModelRegistry

    (home / "models" / "x").mkdir(parents=True)
    registry = ModelRegistry()
    _register(registry, "v1", deploy=True)
    _register(registry, "v2", deploy=False)
    store = CaptureStore(home)
    camera = load_camera_params()
    detector = CaptureDetector(
        store, registry_resolver(registry, home), lambda _dir: _Blank(), camera,
        StageKinematics(load_stage_params(), load_cell_layout(), camera),
    )  # fmt: skip

    class Services:
        arm = stage = gripper = None

        def __init__(self) -> None:
            self.calls: list[str] = []

        def detect(self, family, version, ref):
            result = detector.detect(family, version, ref)
            self.calls.append(result.model_version)
            if len(self.calls) == 1:
                registry.deploy("v2")  # an engineer promotes v2 while this cycle detects
            return result

    services = Services()

    def cycle() -> str:
        job = CycleJob(new_cycle_id(), "SN-1", FAMILY)
        refs = []
        for v in range(3):
            frames = np.full((1, 32, 32), 50 + v, np.uint8)
            capture = MultispectralCapture(v, np.zeros(5), ("white",), (1.0,), (0.0,), (time.time(),), frames)
            refs.append(store.put(capture, cycle_id=job.cycle_id, blade_serial="SN-1", part_family=FAMILY))
        context = StepsContext(None, None, np.zeros(5), AcceptanceRules(), home)
        steps = CellCycleSteps(services, job, np.zeros((0, 5)), context, timings=dict, started_at=time.time(),
                               cancel=threading.Event())  # fmt: skip
        return steps.detect(refs, None).model_version

    assert cycle() == "v1"
    assert services.calls == ["v1", "v1", "v1"]  # the whole cycle kept the model it started with
    assert cycle() == "v2"
    assert services.calls[3:] == ["v2", "v2", "v2"]


def test_model_commands_promote_roll_back_list_and_status(home: Path) -> None:
    from bladecell_ros.cli import app

    from database.services import ModelRegistry

    registry = ModelRegistry()
    _register(registry, "v1", deploy=True)
    _register(registry, "v2", deploy=False)
    runner = CliRunner()
    out = runner.invoke(app, ["model", "promote", "v2", "--family", "OTHER", "--operator", "ann"])
    assert out.exit_code == 1 and "is a 'HPT-ML' model, not a 'OTHER' one" in out.output
    out = runner.invoke(app, ["model", "promote", "v2", "--family", FAMILY, "--operator", "ann"])
    assert out.exit_code == 0, out.output
    assert registry.deployed_for(FAMILY).version == "v2"
    out = runner.invoke(app, ["status"])
    assert (
        out.exit_code == 0
        and "HPT-ML: deployed v2 (designed)" in out.output
        and "no health check" in out.output
    )
    out = runner.invoke(app, ["model", "rollback", "--family", FAMILY, "--operator", "bob"])
    assert out.exit_code == 0 and "v1 deployed" in out.output, out.output
    out = runner.invoke(app, ["model", "rollback", "--family", FAMILY])
    assert out.exit_code == 0 and "v2 deployed" in out.output  # the one before v1 now: v2 again
    out = runner.invoke(app, ["model", "list", "--family", FAMILY])
    assert out.exit_code == 0 and "v1" in out.output and "retired" in out.output
    out = runner.invoke(app, ["model", "check", "--family", FAMILY])
    assert out.exit_code == 0 and "HPT-ML v2: ok" in out.output, out.output
    out = runner.invoke(app, ["status", "--family", FAMILY])
    assert "HPT-ML v2: ok" in out.output
    out = runner.invoke(app, ["model", "retrain", "--family", FAMILY])
    assert out.exit_code == 1 and "has no labelled captures" in out.output, out.output  # refused
    out = runner.invoke(app, ["model", "retrain", "--family", "HPT-NEW", "--like", "NOPE"])
    assert out.exit_code == 1 and "no deployed model for part family 'NOPE'" in out.output
    from database.services.registry import ModelRegistry as Again

    assert [m.version for m in Again().list(FAMILY)] == ["v2", "v1"]  # nothing registered by the refusal
