"""The nodes' ROS-free cores: recording a cycle (idempotent, unit conversions), the model designer
(registry + deploy, cancel), the detector core (model cache across a registry outage) and the
simulated world's persistence and restocking."""

from __future__ import annotations

import json
import threading
import time
import uuid

import numpy as np
import pytest
from bladecell_ros.capture_store import CaptureStore
from bladecell_ros.designer import DesignCancelled, ModelDesigner, new_model_version, scalar_metrics
from bladecell_ros.detection import CaptureDetector, ModelRef, NoModelError
from bladecell_ros.recording import CycleSummary, build_cycle_record, db_class, gain_factor
from local_cell import FAMILY, fake_design

from platform_control.imaging import Capture
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.stage import StageKinematics

CLASSES = ("background", "crack", "nick", "dent", "pitting", "coating_loss", "burn")
CHANNELS = ("white", "nir850")


def _store_cycle(store: CaptureStore, cycle_id: str, n: int = 2) -> list[str]:
    refs = []
    for i in range(n):
        frames = np.full((2, 16, 20), 40 + i, np.uint8)
        label = np.zeros((16, 20), np.uint8)
        label[4:8, 5:9] = 6
        capture = Capture(i, np.zeros(5), CHANNELS, (8.0, 15.0), (0.0, 6.0), (1.0, 2.0), frames)
        refs.append(
            store.put(
                capture,
                cycle_id=cycle_id,
                blade_serial="SN-R",
                part_family=FAMILY,
                label=label,
                label_classes=CLASSES,
            )
        )
    return refs


def _summary(cycle_id: str, refs: list[str], detections_ref: str | None, **kw) -> CycleSummary:
    now = time.time()
    base = dict(
        cycle_id=cycle_id,
        blade_serial="SN-R",
        part_family=FAMILY,
        cell="c1",
        operator="op",
        request_uuid=None,
        final_state="done",
        verdict="fail",
        started_at=now - 30,
        finished_at=now,
        stage_timings={"SCANNING": 12.5},
        model_version=None,
        capture_refs=refs,
        detections_ref=detections_ref,
    )
    base.update(kw)
    return CycleSummary(**base)


def test_cycle_record_is_built_from_the_cell_files_and_recorded_once(home) -> None:
    from database.services import CycleRecorder

    store = CaptureStore(home)
    cycle_id = uuid.uuid4().hex
    refs = _store_cycle(store, cycle_id)
    mask = store.files.put_image(np.zeros((16, 20), np.uint8))
    detections = {
        "captures": {"1": {"capture_ref": refs[1], "mask_path": mask.path, "mask_sha256": mask.sha256}},
        "defects": [
            {
                "viewpoint_index": 1,
                "defect_class": "Coating Loss",
                "class_index": 5,
                "confidence": 0.8,
                "pixel_area": 16,
                "area_mm2": 0.3,
                "bbox": [5, 4, 4, 4],
                "contour": [[5, 4], [8, 4], [8, 7]],
                "location_mm": [1.0, 2.0, 30.0],
            }
        ],
    }
    (home / "detections").mkdir()
    (home / "detections" / "d.json").write_text(json.dumps(detections))
    record = build_cycle_record(_summary(cycle_id, refs, "detections/d.json"), store)
    assert [c.viewpoint_index for c in record.captures] == [0, 1]
    assert record.captures[0].mask_path is None and record.captures[1].mask_sha256 == mask.sha256
    frame = record.captures[0].frames[1]
    assert frame.channel == "nir850" and frame.gain == pytest.approx(gain_factor(6.0)) == pytest.approx(
        1.9953, 1e-4
    )
    assert record.defects[0].defect_class == "coating_loss" and record.defects[0].location_mm == (
        1.0,
        2.0,
        30.0,
    )
    recorder = CycleRecorder()
    first, again = recorder.record(record), recorder.record(record)
    assert first.created and not again.created and first.cycle_id == again.cycle_id
    assert (first.capture_count, first.defect_count) == (2, 1)
    with pytest.raises(ValueError, match="detections file"):
        build_cycle_record(_summary(uuid.uuid4().hex, refs, "detections/missing.json"), store)
    assert db_class("3D-dent") == "c_3d_dent"


def test_designer_registers_deploys_and_can_be_cancelled(home) -> None:
    from database.services import ModelRegistry

    store = CaptureStore(home)
    _store_cycle(store, "c1", n=3)
    dataset = store.export(FAMILY).dataset_dir
    registry = ModelRegistry()
    designer = ModelDesigner(home, registry, target_device="cpu", design_fn=fake_design)
    seen = []
    outcome = designer.run(FAMILY, dataset, progress=lambda *a: seen.append(a))
    assert outcome.deployed and outcome.latency_device == "cpu" and outcome.miou == 1.0
    overall = [a[2] for a in seen]
    assert overall == sorted(overall) and overall[-1] == 1.0 and seen[-1][0] == "register"
    info = registry.deployed_for(FAMILY)
    assert info.version == outcome.version and info.weights_path.startswith("models/")
    assert (home / info.weights_path / "weights.pt").is_file() and info.weights_sha256
    assert info.metrics == {"miou": 1.0, "iou.background": 1.0}
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DesignCancelled):
        designer.run(FAMILY, dataset, cancel=cancel)
    assert registry.deployed_for(FAMILY).version == outcome.version
    with pytest.raises(FileNotFoundError, match=r"dataset\.yaml"):
        designer.run(FAMILY, home)
    assert scalar_metrics({"a": 1, "b": float("nan"), "c": {"d": 2.0}, "s": "x", "t": True}) == {
        "a": 1.0,
        "c.d": 2.0,
    }
    assert new_model_version("HPT 1/B").startswith("HPT_1_B-")


class _ConstantPredictor:
    channels = ("nir850", "white")
    class_names = CLASSES

    def __init__(self) -> None:
        self.calls = []

    def predict(self, image):
        self.calls.append(image)
        mask = np.zeros(image.shape[:2], np.uint8)
        mask[4:8, 5:9] = 6
        probs = np.zeros((7, *mask.shape), np.float32)
        probs[0] = 1.0
        probs[0][mask == 6], probs[6][mask == 6] = 0.2, 0.8
        return type("P", (), {"mask": mask, "probabilities": probs})()


def test_detector_core_keeps_working_from_its_cache_while_the_registry_is_down(home) -> None:
    store = CaptureStore(home)
    refs = _store_cycle(store, "c1")
    predictor = _ConstantPredictor()
    registry_up = {"value": True}
    loads = []

    def resolve(family, version):
        if not registry_up["value"]:
            raise ConnectionError("database unavailable")
        if family != FAMILY:
            raise NoModelError(f"no deployed model for part family {family!r}: design one first")
        return ModelRef("m-1", home)

    camera = load_camera_params()
    detector = CaptureDetector(
        store,
        resolve,
        lambda d: loads.append(d) or predictor,
        camera,
        StageKinematics(load_stage_params(), load_cell_layout(), camera),
    )
    out = detector.detect(FAMILY, None, refs[0])
    assert out.model_version == "m-1" and len(out.regions) == 1
    region = out.regions[0]
    assert region["defect_class"] == "burn" and region["pixel_area"] == 16
    assert region["confidence"] == pytest.approx(0.8) and region["area_mm2"] > 0 and region["location_mm"]
    # the model sees its channels in its own order: nir850 (value 40 + 0) was stored second
    assert predictor.calls[0].shape == (16, 20, 2) and predictor.calls[0][0, 0, 0] == 40
    assert store.files.read_image(out.mask_path, out.mask_sha256, grey=True)[5, 6] == 6
    registry_up["value"] = False
    assert detector.detect(FAMILY, None, refs[1]).model_version == "m-1"  # cached: no registry needed
    assert len(loads) == 1
    registry_up["value"] = True
    with pytest.raises(NoModelError, match="design one first"):
        detector.detect("OTHER", None, refs[0])


def test_sim_world_survives_a_restart_and_restocks_after_a_reject(tmp_path) -> None:
    from bladecell_ros.sim_world import SimBladeSpec, SimWorld

    state = tmp_path / "world.json"
    spec = SimBladeSpec(defects_min=1, defects_max=1)
    world = SimWorld(spec, resolution=32, state_file=state)
    try:
        world.cell.place_blade("fixture")
        axes = np.array([0.01, -0.005, 0.002, 0.2, 1.0])
        world.cell.set_stage_axes(axes)
        world.save()
    finally:
        world.close()
    again = SimWorld(spec, resolution=32, state_file=state)
    try:
        assert again.blade_holder == "fixture"
        np.testing.assert_allclose(again.stage.joint_state().positions, axes, atol=1e-9)
        # a blade dropped into the reject bin is replaced (next seed) before the next LOAD
        from platform_control.sim.scan import SimulatedCellRun

        again.cell.set_stage_axes(np.array(again.pick_place.stage_load_axes))
        SimulatedCellRun(again.cell).unload(reject=True)
        assert again.blade_holder == "reject_bin"
        assert again.restock_if_needed() and again.blade_holder == "tray"
        assert again.blade_spec.seed == spec.seed + 1
        assert json.loads(state.read_text())["blade"]["seed"] == spec.seed + 1
    finally:
        again.close()
