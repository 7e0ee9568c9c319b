"""Library objects <-> ROS messages: exact round trips, clear errors on bad messages."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ros


def test_images_round_trip_bit_exact_for_mono8_and_mono16() -> None:
    from bladecell_ros.transport.conversions import image_to_msg, msg_to_image

    rng = np.random.default_rng(0)
    for dtype, encoding in ((np.uint8, "mono8"), (np.uint16, "mono16")):
        image = rng.integers(0, np.iinfo(dtype).max, (37, 53), dtype=dtype)
        msg = image_to_msg(image)
        assert (msg.encoding, msg.height, msg.width, msg.step) == (encoding, 37, 53, 53 * image.itemsize)
        back = msg_to_image(msg)
        assert back.dtype == dtype and np.array_equal(back, image)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        image_to_msg(np.zeros((4, 4), np.float32))
    bad = image_to_msg(np.zeros((4, 4), np.uint8))
    bad.encoding = "rgb8"
    with pytest.raises(ValueError, match="rgb8"):
        msg_to_image(bad)


def test_capture_with_label_round_trips() -> None:
    from bladecell_ros.transport.conversions import capture_to_msg, msg_to_capture

    from platform_control.imaging import MultispectralCapture

    frames = np.random.default_rng(1).integers(0, 255, (3, 16, 24), dtype=np.uint8)
    capture = MultispectralCapture(
        4,
        np.arange(5) * 0.1,
        ("white", "uv365", "nir850"),
        (8.0, 40.0, 15.0),
        (0.0, 12.0, 6.0),
        (1.0, 1.1, 1.2),
        frames,
    )
    label = np.zeros((16, 24), np.uint8)
    label[3:5, 6:9] = 6
    back, back_label, classes = msg_to_capture(capture_to_msg(capture, label, ("background", "burn")))
    assert back.viewpoint_index == 4 and back.channels == capture.channels
    np.testing.assert_allclose(back.stage_axes, capture.stage_axes)
    assert back.exposure_ms == capture.exposure_ms and back.gain == capture.gain
    assert np.array_equal(back.frames, frames) and np.array_equal(back_label, label)
    assert classes == ("background", "burn")
    unlabelled = msg_to_capture(capture_to_msg(capture))
    assert unlabelled[1] is None and unlabelled[2] == ()


def test_trajectory_round_trip_samples_identically() -> None:
    from bladecell_ros.transport.conversions import msg_to_trajectory, trajectory_to_msg

    from platform_control.params import load_stage_params
    from platform_control.trajectory import time_parameterize

    p = load_stage_params()
    traj = time_parameterize(
        np.array([[0, 0, 0, 0, 0], [0.05, -0.02, 0.01, 0.3, 1.0], [0, 0, 0, 0, 0]]),
        p.max_velocity,
        p.max_acceleration,
        p.axis_names,
    )
    back = msg_to_trajectory(trajectory_to_msg(traj))
    assert back.joint_names == traj.joint_names
    t = np.linspace(0, traj.duration, 50)
    np.testing.assert_allclose(back.sample(t), traj.sample(t), atol=1e-9)
    msg = trajectory_to_msg(traj)
    msg.points[1].velocities = [0.0]
    with pytest.raises(ValueError, match="point 1"):
        msg_to_trajectory(msg)


def test_defect_record_round_trip() -> None:
    from bladecell_ros.transport.conversions import msg_to_region, region_to_msg

    region = {
        "class_index": 6,
        "defect_class": "burn",
        "confidence": 0.75,
        "pixel_area": 120,
        "area_mm2": 0.5,
        "bbox": [3, 4, 10, 12],
        "contour": [[3, 4], [12, 4], [12, 15]],
        "location_mm": [1.5, -2.0, 40.25],
    }
    back = msg_to_region(region_to_msg(region, 7))
    assert back["viewpoint_index"] == 7
    for key in ("class_index", "defect_class", "pixel_area", "bbox", "contour"):
        assert back[key] == region[key]
    assert back["confidence"] == pytest.approx(0.75) and back["area_mm2"] == pytest.approx(0.5)
    assert back["location_mm"] == pytest.approx(region["location_mm"])
    assert msg_to_region(region_to_msg({**region, "location_mm": None}, 0))["location_mm"] is None


def test_cell_status_and_diagnostics_reflect_the_cycle(tmp_path) -> None:
    from bladecell_ros.transport.cell_messages import cell_status, diagnostics
    from diagnostic_msgs.msg import DiagnosticStatus

    from platform_control.cycle import CycleMachine, CycleSteps
    from platform_control.cycle.services import CycleJob

    def fail(_i):
        raise RuntimeError("imaging: the server went away")

    steps = CycleSteps(
        load=lambda: None,
        scan_viewpoint=fail,
        detect=None,
        record=None,
        unload=None,
        halt_motion=lambda: None,
    )
    cycle = CycleMachine(steps, tmp_path / "c.json", cycle_id="c1")
    job = CycleJob("c1", "SN-1", "F")
    idle = cell_status("cell-1", None, None, False, "idle")
    assert (idle.state, idle.message, idle.cycle_id) == ("IDLE", "idle", "")
    cycle.start(3)
    cycle.run()
    msg = cell_status("cell-1", cycle, job, False, "resume with --resume")
    assert msg.state == "FAULTED" and msg.blade_serial == "SN-1" and msg.viewpoint_count == 3
    assert msg.message.startswith("FAULTED (step_error): scan_viewpoint at viewpoint 0 failed: imaging")
    assert msg.message.endswith("| resume with --resume")
    array = diagnostics("cell-1", cycle, False, "x", {"imaging": False, "detector": True})
    levels = {s.name: s.level for s in array.status}
    assert levels == {
        "bladecell: cell": DiagnosticStatus.ERROR,
        "bladecell: imaging": DiagnosticStatus.WARN,
        "bladecell: detector": DiagnosticStatus.OK,
    }


def test_record_request_round_trips_through_the_record_cycle_goal() -> None:
    from bladecell_ros.transport.conversions import goal_to_record_request, record_request_to_goal

    from platform_control.cycle.services import CycleJob, RecordRequest

    request = RecordRequest(
        job=CycleJob("c" * 32, "SN-1", "HPT", operator="ann", request_uuid="1234"),
        final_state="done",
        verdict="fail",
        started_at=100.0,
        finished_at=160.5,
        stage_timings={"SCANNING": 40.25, "DETECTING": 3.5},
        model_version="m-7",
        capture_refs=("captures/HPT/c/v000.json", "captures/HPT/c/v001.json"),
        detections_ref="detections/HPT/c.json",
    )
    assert goal_to_record_request(record_request_to_goal(request)) == request
    bare = RecordRequest(request.job, "done", "pass", 1.0, 2.0, {}, None, (), None)
    back = goal_to_record_request(record_request_to_goal(bare))
    assert back.model_version is None and back.detections_ref is None and back.job.request_uuid == "1234"
