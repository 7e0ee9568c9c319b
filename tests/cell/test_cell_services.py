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
from bladecell_ros.services.capture_store import CaptureStore
from bladecell_ros.services.designer import (
    DesignCancelled,
    ModelDesigner,
    new_model_version,
    scalar_metrics,
    untrained_note,
)
from bladecell_ros.services.detection import CaptureDetector, ModelRef, NoModelError
from bladecell_ros.services.recording import build_cycle_record, db_class, gain_factor
from local_cell import FAMILY, fake_design

from platform_control.cycle.detections import CaptureDetections, DetectionsError, DetectionsFile
from platform_control.cycle.services import CycleJob, RecordRequest
from platform_control.imaging import MultispectralCapture
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
        capture = MultispectralCapture(i, np.zeros(5), CHANNELS, (8.0, 15.0), (0.0, 6.0), (1.0, 2.0), frames)
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


def _request(cycle_id: str, refs: list[str], detections_ref: str | None) -> RecordRequest:
    now = time.time()
    return RecordRequest(
        job=CycleJob(cycle_id, "SN-R", FAMILY, operator="op"),
        final_state="done",
        verdict="fail",
        started_at=now - 30,
        finished_at=now,
        stage_timings={"SCANNING": 12.5},
        model_version=None,
        capture_refs=tuple(refs),
        detections_ref=detections_ref,
    )


def test_cycle_record_is_built_from_the_cell_files_and_recorded_once(home) -> None:
    from database.services import CycleRecorder

    store = CaptureStore(home)
    cycle_id = uuid.uuid4().hex
    refs = _store_cycle(store, cycle_id)
    mask = store.files.put_image(np.zeros((16, 20), np.uint8))
    detections = DetectionsFile(
        cycle_id=cycle_id,
        part_family=FAMILY,
        model_version="m-1",
        verdict="pass",
        reasons=(),
        captures={1: CaptureDetections(refs[1], mask.path, mask.sha256, 20, 16)},
        defects=[
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
    )
    ref = detections.write(home)
    assert DetectionsFile.read(home, ref) == DetectionsFile.from_json(detections.to_json())
    record = build_cycle_record(_request(cycle_id, refs, ref), "c1", store)
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
        build_cycle_record(_request(uuid.uuid4().hex, refs, "detections/missing.json"), "c1", store)
    (home / "detections" / "bad.json").write_text('{"captures": {}}')
    with pytest.raises(DetectionsError, match=r"bad\.json: not a detections file"):
        build_cycle_record(_request(uuid.uuid4().hex, refs, "detections/bad.json"), "c1", store)
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


def test_a_design_without_examples_of_a_class_says_so_in_its_summary_and_the_model_line(home) -> None:
    """The first scan held no coating loss: the design, the registry and the cycle summary say the model
    cannot find it, instead of a silent zero recall on every later blade."""
    from bladecell_ros.bringup.session import model_line

    from database.services import ModelRegistry

    def design_without_coating_loss(dataset_dir, out_dir, **kwargs):
        result = fake_design(dataset_dir, out_dir, **kwargs)
        names = ["background", "crack", "coating_loss", "burn"]
        pre = {"class_names": names, "channels": ["white"], "mean": [0.5], "std": [0.2]}
        (result.model_dir / "preprocess.json").write_text(json.dumps(pre))
        result.metrics["train_pixels"] = {"background": 9000, "crack": 40, "coating_loss": 0, "burn": 0}
        return result

    store = CaptureStore(home)
    _store_cycle(store, "c1", n=3)
    registry = ModelRegistry()
    designer = ModelDesigner(home, registry, design_fn=design_without_coating_loss)
    outcome = designer.run(FAMILY, store.export(FAMILY).dataset_dir)
    assert outcome.untrained_classes == ("coating_loss", "burn")
    assert "no training examples of coating_loss, burn: it cannot find them" in outcome.summary()
    info = registry.deployed_for(FAMILY)
    assert info.metrics["train_pixels.coating_loss"] == 0 and info.metrics["train_pixels.crack"] == 40
    assert model_line(info.version) == f"{info.version}{untrained_note(('coating_loss', 'burn'))}"
    assert untrained_note(()) == ""


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


def test_sim_world_survives_a_restart_and_restocks_after_a_reject(tmp_path, caplog) -> None:
    from platform_control.sim.world import SimBladeSpec, SimWorld

    state = tmp_path / "world.json"
    spec = SimBladeSpec(defects_min=1, defects_max=1)
    world = SimWorld(spec, resolution=32, state_file=state)
    try:
        world.cell.place_blade("fixture")
        axes = np.array([0.01, -0.005, 0.002, 0.2, 1.0])
        world.cell.set_stage_axes(axes)
        arm = np.array(world.pick_place.home) + np.array([0.3, -0.2, 0.25, -0.1, 0.2, 0.4])
        world.cell.set_arm_joints(arm)
        world.save()
    finally:
        world.close()
    again = SimWorld(spec, resolution=32, state_file=state)
    try:
        assert again.blade_holder == "fixture"
        np.testing.assert_allclose(again.stage.joint_state().positions, axes, atol=1e-9)
        np.testing.assert_allclose(again.arm.joint_state().positions, arm, atol=1e-9)  # not home
        again.camera.wait(0.2)  # the restored drives hold their pose
        np.testing.assert_allclose(again.arm.joint_state().positions, arm, atol=1e-5)
        assert "not restoring" not in caplog.text
        # a blade dropped into the reject bin is replaced (next seed) before the next LOAD
        from platform_control.sim.scan import cell_motion

        again.cell.set_stage_axes(np.array(again.pick_place.stage_load_axes))
        cell_motion(again.cell).unload(reject=True)
        assert again.blade_holder == "reject_bin"
        assert again.restock_if_needed() and again.blade_holder == "tray"
        assert again.blade_spec.seed == spec.seed + 1
        assert json.loads(state.read_text())["blade"]["seed"] == spec.seed + 1
    finally:
        again.close()


class _GripperKilledAfterGrip:
    """The world's gripper, with the simulator process dying right after it closed on the blade."""

    def __init__(self, gripper) -> None:
        self.gripper = gripper

    def open(self) -> None:
        self.gripper.open()

    def close(self) -> None:
        self.gripper.close()
        raise RuntimeError("simulator process killed")

    def holding(self) -> bool:
        return self.gripper.holding()


def test_sim_world_reseats_a_blade_held_at_a_crash_where_the_gripper_took_it(tmp_path, caplog) -> None:
    """The simulator died while the arm held the blade: in an UNLOAD (taken from the fixture) it
    restarts on the fixture, so the resumed UNLOAD grips it there; in a LOAD, in the tray."""
    from platform_control.pick_place import execute_pick_place
    from platform_control.sim.scan import cell_motion
    from platform_control.sim.world import SimBladeSpec, SimWorld

    state = tmp_path / "world.json"
    spec = SimBladeSpec(defects_min=1, defects_max=1)
    for source in ("fixture", "tray"):
        world = SimWorld(spec, resolution=32, state_file=state, restore=False)
        try:
            world.cell.place_blade(source)
            world.cell.set_stage_axes(np.array(world.pick_place.stage_load_axes))
            planner = cell_motion(world.cell).planner
            q = world.arm.joint_state().positions
            plan = planner.plan_unload(False, q) if source == "fixture" else planner.plan_load(q)
            with pytest.raises(RuntimeError, match="killed"):
                execute_pick_place(plan, world.arm, _GripperKilledAfterGrip(world.gripper))
            assert world.blade_holder == "gripper"
        finally:
            world.close()
        assert json.loads(state.read_text())["picked_from"] == source
        again = SimWorld(spec, resolution=32, state_file=state)
        try:
            assert again.blade_holder == source
            assert f"restarts in the {source}" in caplog.text
            if source == "fixture":
                cell_motion(again.cell).unload(reject=False)  # the resumed UNLOAD finds it
                assert again.blade_holder == "tray"
        finally:
            again.close()


def test_sim_world_restore_clips_limit_overshoot_and_skips_invalid_joints(tmp_path, caplog) -> None:
    """A joint saved a hair beyond its limit (servo overshoot) is restored at the limit; a saved pose
    that cannot be valid leaves that group at its start pose with a warning, and the world still starts."""
    from platform_control.sim.world import SimBladeSpec, SimWorld

    state = tmp_path / "world.json"
    spec = SimBladeSpec(defects_min=1, defects_max=1)
    SimWorld(spec, resolution=32, state_file=state).close()
    saved = json.loads(state.read_text())
    from platform_control.params import load_arm_params

    limits = np.array(load_arm_params().joint_limits)
    arm = np.array(saved["arm_joints"])
    arm[2] = limits[2, 1] + 5e-5
    saved["arm_joints"] = arm.tolist()
    saved["stage_axes"] = saved["stage_axes"][:4]  # corrupt: one axis missing
    state.write_text(json.dumps(saved))
    world = SimWorld(spec, resolution=32, state_file=state)
    try:
        restored = world.arm.joint_state().positions
        assert restored[2] == pytest.approx(limits[2, 1], abs=1e-12)
        np.testing.assert_allclose(np.delete(restored, 2), np.delete(arm, 2), atol=1e-12)
        np.testing.assert_allclose(world.stage.joint_state().positions, world.pick_place.stage_load_axes)
        assert "not restoring the stage" in caplog.text and "not restoring the arm" not in caplog.text
    finally:
        world.close()


class _CentreSpotPredictor:
    channels = CHANNELS
    class_names = CLASSES

    def predict(self, image):
        mask = np.zeros(image.shape[:2], np.uint8)
        mask[126:130, 126:130] = 4  # 4 x 4 px (1.1 x 1.1 mm) around the frame centre (128, 128)
        return type("P", (), {"mask": mask, "probabilities": None})()


def test_detector_sizes_and_locates_defects_on_the_family_blade_surface(home) -> None:
    """With the family's blade model the detector casts its pixels onto the blade: a spot at the view
    centre of a viewpoint lies on the blade at the viewpoint's surface point, and its area grows by
    1 / cos(incidence) when the blade is seen obliquely; families without a model use the focus plane."""
    from platform_control.part_families import BladeSurfaces, load_part_families

    surfaces = BladeSurfaces(load_part_families(f"families:\n  {FAMILY}: {{preset: small, seed: 3}}"))
    surface = surfaces(FAMILY)
    assert surface is not None and surfaces(FAMILY) is surface and surfaces("OTHER") is None
    from platform_control.blade import label_mask

    mesh = surface.mesh
    airfoil = label_mask(mesh, ["airfoil"]) & (np.abs(mesh.face_normals[:, 2]) < 0.2)
    middle = np.linalg.norm(mesh.triangles_center - mesh.triangles_center[airfoil].mean(axis=0), axis=1)
    face = int(np.argmin(np.where(airfoil, middle, np.inf)))  # mid-airfoil, normal across the span
    point, normal = mesh.triangles_center[face], mesh.face_normals[face]
    camera = load_camera_params()
    stage = StageKinematics(load_stage_params(), load_cell_layout(), camera)
    tilt = np.radians(40.0)
    side = np.cross(normal, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    oblique = normal * np.cos(tilt) + np.cross(side, normal) * np.sin(tilt)  # 40 deg off the normal
    store = CaptureStore(home)
    refs = []
    for i, view in enumerate((normal, oblique)):
        axes = stage.viewpoint_to_axes(point, view)
        frames = np.full((2, 256, 256), 50, np.uint8)
        capture = MultispectralCapture(i, axes, CHANNELS, (8.0, 15.0), (0.0, 6.0), (1.0, 2.0), frames)
        refs.append(store.put(capture, cycle_id="c-surf", blade_serial="SN-S", part_family=FAMILY))

    def detector(surface_of):
        return CaptureDetector(
            store,
            lambda family, version: ModelRef("m-1", home),
            lambda _dir: _CentreSpotPredictor(),
            camera,
            stage,
            min_pixels=1,
            surface_of=surface_of,
        )

    flat = [detector(None).detect(FAMILY, None, ref).regions[0] for ref in refs]
    onto = [detector(surfaces).detect(FAMILY, None, ref).regions[0] for ref in refs]
    # head-on: the plane model is right at the focus point; the blade surface agrees
    assert onto[0]["area_mm2"] == pytest.approx(flat[0]["area_mm2"], rel=0.02)
    np.testing.assert_allclose(onto[0]["location_mm"], point * 1e3, atol=0.05)
    # 40 degrees oblique: the same 16 pixels cover 1 / cos 40 deg more blade
    assert onto[1]["area_mm2"] == pytest.approx(flat[1]["area_mm2"] / np.cos(tilt), rel=0.03)
    np.testing.assert_allclose(onto[1]["location_mm"], point * 1e3, atol=0.05)
    unknown = detector(surfaces).detect("OTHER", None, refs[1]).regions[0]
    assert unknown["area_mm2"] == pytest.approx(flat[1]["area_mm2"])


def test_the_world_renders_the_whole_sensor_binned_or_a_square_frame() -> None:
    from platform_control.sim.world import world_optics

    assert (world_optics(256, 0).sensor.width, world_optics(256, 0).sensor.height) == (256, 256)
    binned = world_optics(256, 4).sensor  # the resolution does not count once binning is given
    assert (binned.width, binned.height) == (612, 512)
    with pytest.raises(ValueError, match="binning 3 does not divide"):
        world_optics(256, 3)
    with pytest.raises(ValueError, match="0 \\(use the resolution\\) or a positive integer"):
        world_optics(256, -1)
