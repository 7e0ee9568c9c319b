"""Library objects <-> ROS 2 messages: images, captures, trajectories, defects.

Images follow the ros2-on-pip note: `msg.data` is filled from an `array.array` (about 1 ms for 2 MiB;
assigning an ndarray costs ~100x more) and read back with `np.frombuffer` (no copy).
"""

from __future__ import annotations

import array
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from bladecell_interfaces.action import RecordCycle
from bladecell_interfaces.msg import Defect
from bladecell_interfaces.msg import MultispectralCapture as MultispectralCaptureMsg
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from sensor_msgs.msg import Image
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg
from trajectory_msgs.msg import JointTrajectoryPoint

from bladecell_ros.services.capture_store import stack_channels
from platform_control.cycle.services import CycleJob, RecordRequest
from platform_control.imaging import MultispectralCapture
from platform_control.trajectory import JointTrajectory

_ENCODINGS = {np.dtype(np.uint8): "mono8", np.dtype(np.uint16): "mono16"}
_DTYPES = {v: k for k, v in _ENCODINGS.items()}


def image_to_msg(image: np.ndarray) -> Image:
    """(H, W) uint8 / uint16 -> sensor_msgs/Image (mono8 / mono16, little endian)."""
    image = np.ascontiguousarray(image)
    if image.ndim != 2 or image.dtype not in _ENCODINGS:
        raise ValueError(f"image must be (H, W) uint8 or uint16, got {image.shape} {image.dtype}")
    msg = Image()
    msg.height, msg.width = (int(v) for v in image.shape)
    msg.encoding = _ENCODINGS[image.dtype]
    msg.is_bigendian = 0
    msg.step = int(image.strides[0])
    msg.data = array.array("B", image.astype(image.dtype.newbyteorder("<"), copy=False).tobytes())
    return msg


def msg_to_image(msg: Image) -> np.ndarray:
    """sensor_msgs/Image (mono8 / mono16) -> (H, W) array (read-only view on the message buffer)."""
    dtype = _DTYPES.get(msg.encoding)
    if dtype is None:
        raise ValueError(f"image encoding {msg.encoding!r} not supported (mono8, mono16)")
    dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    row = msg.step // dtype.itemsize
    data = np.frombuffer(msg.data, dtype=dtype)
    if data.size != msg.height * row:
        raise ValueError(f"image data has {data.size} values, expected {msg.height} x {row}")
    return data.reshape(msg.height, row)[:, : msg.width].astype(dtype.newbyteorder("="), copy=False)


def capture_to_msg(
    capture: MultispectralCapture, label: np.ndarray | None = None, label_classes: Sequence[str] = ()
) -> MultispectralCaptureMsg:
    msg = MultispectralCaptureMsg()
    msg.viewpoint_index = int(capture.viewpoint_index)
    msg.stage_axes = [float(v) for v in capture.stage_axes]
    msg.channels = list(capture.channels)
    msg.exposure_ms = [float(v) for v in capture.exposure_ms]
    msg.gain_db = [float(v) for v in capture.gain]
    msg.timestamps = [float(v) for v in capture.timestamps]
    msg.frames = [image_to_msg(f) for f in capture.frames]
    if label is not None:
        msg.has_label = True
        msg.label_mask = image_to_msg(np.asarray(label, dtype=np.uint8))
        msg.label_classes = list(label_classes)
    return msg


def msg_to_capture(
    msg: MultispectralCaptureMsg,
) -> tuple[MultispectralCapture, np.ndarray | None, tuple[str, ...]]:
    """-> (capture, label mask or None, label class names)."""
    if not msg.frames:
        raise ValueError(f"capture of viewpoint {msg.viewpoint_index} has no frames")
    capture = MultispectralCapture(
        viewpoint_index=int(msg.viewpoint_index),
        stage_axes=np.asarray(msg.stage_axes, dtype=float),
        channels=tuple(msg.channels),
        exposure_ms=tuple(float(v) for v in msg.exposure_ms),
        gain=tuple(float(v) for v in msg.gain_db),
        timestamps=tuple(float(v) for v in msg.timestamps),
        frames=stack_channels(msg.channels, [msg_to_image(f) for f in msg.frames], msg.viewpoint_index),
    )
    label = msg_to_image(msg.label_mask) if msg.has_label else None
    return capture, label, tuple(msg.label_classes)


def _duration(seconds: float) -> Duration:
    ns = round(seconds * 1e9)
    return Duration(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def trajectory_to_msg(trajectory: JointTrajectory) -> JointTrajectoryMsg:
    msg = JointTrajectoryMsg()
    msg.joint_names = list(trajectory.joint_names)
    for k, t in enumerate(trajectory.times):
        msg.points.append(
            JointTrajectoryPoint(
                positions=trajectory.positions[k].tolist(),
                velocities=trajectory.velocities[k].tolist(),
                accelerations=trajectory.accelerations[k].tolist(),
                time_from_start=_duration(float(t)),
            )
        )
    return msg


def msg_to_trajectory(msg: JointTrajectoryMsg) -> JointTrajectory:
    """Raises ValueError naming the problem (missing velocities, wrong sizes, ...)."""
    if not msg.points:
        raise ValueError("trajectory has no points")
    j = len(msg.joint_names)
    for i, p in enumerate(msg.points):
        if len(p.positions) != j or len(p.velocities) != j:
            raise ValueError(
                f"trajectory point {i} has {len(p.positions)} positions / {len(p.velocities)} velocities "
                f"for {j} joints"
            )
    times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points]
    acc = [list(p.accelerations) if len(p.accelerations) == j else [0.0] * j for p in msg.points]
    return JointTrajectory(
        tuple(msg.joint_names),
        np.asarray(times),
        np.array([list(p.positions) for p in msg.points]),
        np.array([list(p.velocities) for p in msg.points]),
        np.array(acc),
    )


def region_to_msg(region: dict[str, Any], viewpoint_index: int) -> Defect:
    """A `DefectRegion.to_dict()` record -> bladecell_interfaces/Defect."""
    msg = Defect()
    msg.defect_class = region["defect_class"]
    msg.class_index = int(region["class_index"])
    msg.confidence = float(region["confidence"])
    msg.pixel_area = int(region["pixel_area"])
    msg.area_mm2 = float(region["area_mm2"])
    msg.bbox_x, msg.bbox_y, msg.bbox_w, msg.bbox_h = (int(v) for v in region["bbox"])
    msg.contour = [int(v) for point in region["contour"] for v in point]
    if region.get("location_mm") is not None:
        x, y, z = (float(v) / 1e3 for v in region["location_mm"])
        msg.location = Point(x=x, y=y, z=z)
        msg.location_valid = True
    msg.viewpoint_index = int(viewpoint_index)
    return msg


def msg_to_region(msg: Defect) -> dict[str, Any]:
    """bladecell_interfaces/Defect -> the `DefectRegion.to_dict()` record (+ viewpoint_index)."""
    pts = list(msg.contour)
    return {
        "viewpoint_index": int(msg.viewpoint_index),
        "class_index": int(msg.class_index),
        "defect_class": msg.defect_class,
        "confidence": float(msg.confidence),
        "pixel_area": int(msg.pixel_area),
        "area_mm2": float(msg.area_mm2),
        "bbox": [int(msg.bbox_x), int(msg.bbox_y), int(msg.bbox_w), int(msg.bbox_h)],
        "contour": [[int(pts[i]), int(pts[i + 1])] for i in range(0, len(pts) - 1, 2)],
        "location_mm": [msg.location.x * 1e3, msg.location.y * 1e3, msg.location.z * 1e3]
        if msg.location_valid
        else None,
    }


def record_request_to_goal(request: RecordRequest) -> RecordCycle.Goal:
    job = request.job
    goal = RecordCycle.Goal(
        cycle_id=job.cycle_id,
        blade_serial=job.blade_serial,
        part_family=job.part_family,
        operator_name=job.operator,
        request_uuid=job.request_uuid or "",
        final_state=request.final_state,
        verdict=request.verdict,
        started_at=request.started_at,
        finished_at=request.finished_at,
        stage_timings_json=json.dumps(dict(request.stage_timings)),
        model_version=request.model_version or "",
        detections_ref=request.detections_ref or "",
    )
    goal.capture_refs = list(request.capture_refs)
    return goal


def goal_to_record_request(goal: RecordCycle.Goal) -> RecordRequest:
    job = CycleJob(
        cycle_id=goal.cycle_id,
        blade_serial=goal.blade_serial,
        part_family=goal.part_family,
        operator=goal.operator_name,
        request_uuid=goal.request_uuid or None,
    )
    return RecordRequest(
        job=job,
        final_state=goal.final_state,
        verdict=goal.verdict,
        started_at=goal.started_at,
        finished_at=goal.finished_at,
        stage_timings=json.loads(goal.stage_timings_json or "{}"),
        model_version=goal.model_version or None,
        capture_refs=tuple(goal.capture_refs),
        detections_ref=goal.detections_ref or None,
    )
