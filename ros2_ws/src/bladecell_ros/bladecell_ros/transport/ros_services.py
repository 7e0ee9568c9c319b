"""The cell's devices and services as the coordinator sees them: ROS 2 clients implementing the
`platform_control.hardware` protocols and `platform_control.cycle.services.CellServices`.

`RosMotionDriver` is an `ArmDriver` / `StageDriver` over the driver node's action, topic and services;
`RosGripper` a `Gripper`. So `platform_control.pick_place.execute_pick_place` and the cycle steps run
unchanged against the ROS graph. Driver results map back to the protocol's exceptions (`EStopActive`,
`LimitViolation`, `HardwareFault`, `DeviceUnreachable`); a node that is gone raises `DeviceUnreachable`
naming it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from action_msgs.msg import GoalStatus
from bladecell_interfaces.action import DesignModel, FollowTrajectory, RecordCycle
from bladecell_interfaces.srv import Capture as CaptureSrv
from bladecell_interfaces.srv import Detect, ExportDataset, GripperCommand
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState as JointStateMsg
from std_srvs.srv import Trigger

from bladecell_ros.transport.conversions import (
    msg_to_region,
    record_request_to_goal,
    trajectory_to_msg,
)
from bladecell_ros.transport.ros_calls import ActionProxy, ServiceProxy
from platform_control.cycle.services import CycleJob, DetectResult, Notify, RecordRequest
from platform_control.hardware import (
    DeviceUnreachable,
    EStopActive,
    HardwareFault,
    JointState,
    LimitViolation,
    ProgressCallback,
)
from platform_control.trajectory import JointTrajectory

#: seconds without an answer before a goal is sent again under its own id (the server runs it once), a
#: lost result is asked for again, or an idempotent request (stop, reset) is repeated: a just-restarted
#: node's RMW may drop the first answers (`transport.ros_calls`)
RESEND_AFTER_S = 1.0


@dataclass(frozen=True)
class Timeouts:
    """Seconds. Motion: duration x `motion_factor` + `motion_margin`. None / 0: no limit."""

    connect: float = 10.0
    capture: float = 60.0
    store: float = 60.0
    detect: float = 120.0
    export: float = 120.0
    design: float = 0.0
    record: float = 0.0
    motion_factor: float = 3.0
    motion_margin: float = 30.0
    lost_grace: float = 1.0


def _limit(seconds: float) -> float | None:
    return seconds if seconds and seconds > 0 else None


class RosMotionDriver:
    """`MotionDriver` over `<device>/follow_trajectory`, `<device>/joint_states`, `<device>/stop|reset`."""

    def __init__(self, node: Node, device: str, joint_names: Sequence[str], timeouts: Timeouts) -> None:
        self.device = device
        self._names = tuple(joint_names)
        self.timeouts = timeouts
        group = ReentrantCallbackGroup()
        self.action = ActionProxy(node, FollowTrajectory, f"{device}/follow_trajectory", device, group)
        self.stop_srv = ServiceProxy(node, Trigger, f"{device}/stop", device, group)
        self.reset_srv = ServiceProxy(node, Trigger, f"{device}/reset", device, group)
        self._state: tuple[float, JointState] | None = None
        self._lock = threading.Lock()
        node.create_subscription(
            JointStateMsg, f"{device}/joint_states", self._on_state, 10, callback_group=group
        )

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._names

    def _on_state(self, msg: JointStateMsg) -> None:
        if tuple(msg.name) != self._names:
            return
        state = JointState(self._names, np.array(msg.position), np.array(msg.velocity), time.time())
        with self._lock:
            self._state = (time.monotonic(), state)

    def _set_final(self, positions: Sequence[float]) -> None:
        if len(positions) == len(self._names):
            state = JointState(self._names, np.array(positions), np.zeros(len(positions)), time.time())
            with self._lock:
                self._state = (time.monotonic(), state)

    def joint_state(self) -> JointState:
        deadline = time.monotonic() + self.timeouts.connect
        while True:
            with self._lock:
                latest = self._state
            if latest is not None:
                return latest[1]
            if time.monotonic() > deadline:
                raise DeviceUnreachable(self.device, f"no {self.device}/joint_states received")
            time.sleep(0.02)

    def follow(self, trajectory: JointTrajectory, progress_cb: ProgressCallback | None = None) -> None:
        goal = FollowTrajectory.Goal(trajectory=trajectory_to_msg(trajectory))
        t = self.timeouts
        result, status = self.action.run(
            goal,
            timeout=trajectory.duration * t.motion_factor + t.motion_margin,
            feedback=(lambda fb: progress_cb(float(fb.progress))) if progress_cb else None,
            connect_timeout=t.connect,
            lost_grace=t.lost_grace,
            resend_after=RESEND_AFTER_S,
        )
        self._set_final(result.final_positions)
        if status == GoalStatus.STATUS_SUCCEEDED and result.success:
            if progress_cb is not None:
                progress_cb(1.0)
            return
        kind, message = result.error_kind, result.message or f"goal ended with status {status}"
        if kind in ("estop", "cancelled"):
            raise EStopActive(self.device, message)
        if kind == "limit":
            raise LimitViolation(self.device, message)
        if kind == "unreachable":
            raise DeviceUnreachable(self.device, message)
        raise HardwareFault(self.device, message)

    def _trigger(self, proxy: ServiceProxy, what: str, connect_timeout: float) -> None:
        response = proxy.call(
            Trigger.Request(),
            timeout=5.0,
            connect_timeout=connect_timeout,
            lost_grace=self.timeouts.lost_grace,
            resend_after=RESEND_AFTER_S,  # stop and reset are idempotent
        )
        if not response.success:
            raise HardwareFault(self.device, f"{what} refused: {response.message}")

    def stop(self) -> None:
        """Halt now; a driver that is not there answers nothing, so give up on it quickly."""
        self._trigger(self.stop_srv, "stop", connect_timeout=2.0)

    def reset(self) -> None:
        self._trigger(self.reset_srv, "reset", connect_timeout=self.timeouts.connect)


class RosGripper:
    """`Gripper` over `arm/gripper`."""

    def __init__(self, node: Node, timeouts: Timeouts) -> None:
        self.proxy = ServiceProxy(node, GripperCommand, "arm/gripper", "gripper", ReentrantCallbackGroup())
        self.timeouts = timeouts
        self._holding = False

    def _command(self, close: bool) -> None:
        response = self.proxy.call(
            GripperCommand.Request(close=close), timeout=10.0, connect_timeout=self.timeouts.connect
        )
        self._holding = bool(response.holding)
        if not response.success:
            raise HardwareFault("gripper", response.message)

    def open(self) -> None:
        self._command(False)

    def close(self) -> None:
        self._command(True)

    def holding(self) -> bool:
        return self._holding


class RosCellServices:
    """`CellServices` of the running cell: the other nodes' services and actions + the model registry."""

    def __init__(
        self,
        node: Node,
        arm_joints: Sequence[str],
        stage_axes: Sequence[str],
        timeouts: Timeouts,
        deployed_model: Callable[[str, Notify, threading.Event], str | None],
    ) -> None:
        self.timeouts = timeouts
        self.arm = RosMotionDriver(node, "arm", arm_joints, timeouts)
        self.stage = RosMotionDriver(node, "stage", stage_axes, timeouts)
        self.gripper = RosGripper(node, timeouts)
        group = ReentrantCallbackGroup()
        self.capture_srv = ServiceProxy(node, CaptureSrv, "imaging/capture", "imaging", group)
        self.export_srv = ServiceProxy(node, ExportDataset, "dataset_store/export", "dataset store", group)
        self.detect_srv = ServiceProxy(node, Detect, "detector/detect", "detector", group)
        self.design_action = ActionProxy(node, DesignModel, "design_model", "model designer", group)
        self.record_action = ActionProxy(node, RecordCycle, "record_cycle", "recorder", group)
        self._deployed_model = deployed_model
        self.design_goal_defaults: dict[str, str] = {}

    def dependencies(self) -> dict[str, bool]:
        """Which servers are discovered right now (for diagnostics)."""
        return {
            "arm": self.arm.action.ready(),
            "stage": self.stage.action.ready(),
            "imaging": self.capture_srv.ready(),
            "dataset_store": self.export_srv.ready(),
            "detector": self.detect_srv.ready(),
            "model_designer": self.design_action.ready(),
            "recorder": self.record_action.ready(),
        }

    def _call(self, proxy: ServiceProxy, request, timeout: float):
        response = proxy.call(
            request,
            timeout=_limit(timeout),
            connect_timeout=self.timeouts.connect,
            lost_grace=self.timeouts.lost_grace,
        )
        if not response.success:
            raise HardwareFault(proxy.device, response.message)
        return response

    def capture(self, job: CycleJob, viewpoint_index: int, stage_axes: np.ndarray) -> str:
        """The imaging node captures and stores (the frames never come here); the capture's reference."""
        request = CaptureSrv.Request(
            cycle_id=job.cycle_id,
            viewpoint_index=viewpoint_index,
            store=True,
            blade_serial=job.blade_serial,
            part_family=job.part_family,
        )
        request.stage_axes = [float(v) for v in stage_axes]
        return self._call(self.capture_srv, request, self.timeouts.capture + self.timeouts.store).capture_ref

    def deployed_model(self, part_family: str, notify: Notify, cancel: threading.Event) -> str | None:
        return self._deployed_model(part_family, notify, cancel)

    def export_dataset(self, part_family: str) -> str:
        response = self._call(
            self.export_srv, ExportDataset.Request(part_family=part_family), self.timeouts.export
        )
        return response.dataset_dir

    def design(self, part_family: str, dataset_dir: str, notify: Notify, cancel: threading.Event) -> str:
        goal = DesignModel.Goal(part_family=part_family, dataset_dir=dataset_dir, deploy=True)
        for key, value in self.design_goal_defaults.items():
            setattr(goal, key, value)

        def feedback(fb) -> None:
            notify(
                f"designing: {fb.stage} {100 * fb.stage_progress:.0f}% "
                f"(overall {100 * fb.progress:.0f}%) {fb.message}"
            )

        result, status = self.design_action.run(
            goal,
            timeout=_limit(self.timeouts.design),
            feedback=feedback,
            cancel=cancel,
            connect_timeout=self.timeouts.connect,
            lost_grace=self.timeouts.lost_grace,
            resend_after=RESEND_AFTER_S,
        )
        if status != GoalStatus.STATUS_SUCCEEDED or not result.success:
            raise RuntimeError(result.message or f"design ended with status {status}")
        notify(result.message)
        return result.model_version

    def detect(self, part_family: str, model_version: str | None, capture_ref: str) -> DetectResult:
        request = Detect.Request(
            part_family=part_family, model_version=model_version or "", capture_ref=capture_ref
        )
        response = self._call(self.detect_srv, request, self.timeouts.detect)
        return DetectResult(
            model_version=response.model_version,
            regions=[
                {k: v for k, v in msg_to_region(d).items() if k != "viewpoint_index"}
                for d in response.defects
            ],
            mask_path=response.mask_path,
            mask_sha256=response.mask_sha256,
            width=response.width,
            height=response.height,
            inference_ms=response.inference_ms,
        )

    def record(self, request: RecordRequest, notify: Notify, cancel: threading.Event) -> int:
        goal = record_request_to_goal(request)
        result, status = self.record_action.run(
            goal,
            timeout=_limit(self.timeouts.record),
            feedback=lambda fb: notify(f"recording: {fb.message}"),
            cancel=cancel,
            connect_timeout=self.timeouts.connect,
            lost_grace=self.timeouts.lost_grace,
            resend_after=RESEND_AFTER_S,
        )
        if status != GoalStatus.STATUS_SUCCEEDED or not result.success:
            raise RuntimeError(result.message or f"recording ended with status {status}")
        notify(result.message)
        return int(result.record_id)

    def halt_motion(self) -> None:
        """Stop arm and stage now (both at once; errors logged by the caller's machine)."""
        errors = []
        threads = []
        for driver in (self.arm, self.stage):

            def stop(d=driver) -> None:
                try:
                    d.stop()
                except Exception as exc:
                    errors.append(exc)

            thread = threading.Thread(target=stop, daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(6.0)
        if errors:
            raise errors[0]
