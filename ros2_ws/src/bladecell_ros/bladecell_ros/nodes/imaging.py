"""Imaging node: the light ring and the camera behind one `imaging/capture` service.

At a viewpoint the coordinator calls `imaging/capture` with the measured stage pose; the node lets the
stage settle (`settle_s`), fires every channel of the imaging plan in turn (`platform_control.imaging.
capture_viewpoint`). With `store` (what the coordinator asks), the node hands the capture to the
dataset store itself (`dataset_store/store_capture`) and answers with its reference only, so the
frames cross ROS once; without it, it answers with the frames. The simulator's camera also gives the
pixel-exact class mask of the view, stored as the capture's label (ground truth for the first design).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bladecell_interfaces.srv import Capture as CaptureSrv
from bladecell_interfaces.srv import StoreCapture
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from bladecell_ros.nodes.hardware import run_standalone_driver
from bladecell_ros.transport.conversions import capture_to_msg
from bladecell_ros.transport.node_utils import param
from bladecell_ros.transport.ros_calls import ServiceProxy
from platform_control.hardware import Camera, LightController
from platform_control.imaging import capture_viewpoint, load_imaging_plan
from platform_control.params import load_stage_params


class ImagingNode(Node):
    """Captures multispectral frames with ``lights`` and ``camera``.

    ``label_source()`` (simulator) returns the class mask of the last frame; ``wait``/``clock`` let
    simulated time pass instead of the wall clock.
    """

    def __init__(
        self,
        lights: LightController,
        camera: Camera,
        *,
        label_source: Callable[[], np.ndarray | None] | None = None,
        label_classes: tuple[str, ...] = (),
        wait: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> None:
        super().__init__("imaging", **kwargs)
        plan_file = param(self, "imaging_plan", "", "imaging plan YAML (empty: platform_control default)")
        self.settle_s = param(self, "settle_s", load_stage_params().settle_time, "stage settle time (s)")
        self.plan = load_imaging_plan(Path(plan_file) if plan_file else None)
        self.lights, self.camera = lights, camera
        self.label_source, self.label_classes = label_source, label_classes
        self.wait, self.clock = wait, clock
        self.store_timeout_s = param(self, "store_timeout_s", 60.0, "storing one capture (s)")
        self.connect_timeout_s = param(self, "connect_timeout_s", 10.0, "wait this long for the store")
        self._lock = threading.Lock()
        self.store_srv = ServiceProxy(
            self, StoreCapture, "dataset_store/store_capture", "dataset store", ReentrantCallbackGroup()
        )
        self.create_service(CaptureSrv, "imaging/capture", self._on_capture)
        self.get_logger().info(f"imaging ready: channels {list(self.plan.order)}")

    def _on_capture(self, request, response: CaptureSrv.Response) -> CaptureSrv.Response:
        try:
            plan = self.plan.only(list(request.channels)) if request.channels else self.plan
            axes = np.asarray(request.stage_axes, dtype=float)
            if axes.shape != (5,):
                raise ValueError(f"stage_axes must hold 5 values (X, Y, Z, A, C), got {axes.size}")
            with self._lock:
                if self.settle_s > 0:
                    self.wait(self.settle_s)
                capture = capture_viewpoint(
                    plan,
                    self.lights,
                    self.camera,
                    int(request.viewpoint_index),
                    axes,
                    clock=self.clock,
                    wait=self.wait,
                )
                label = self.label_source() if self.label_source else None
            msg = capture_to_msg(capture, label, self.label_classes if label is not None else ())
            msg.header.stamp = self.get_clock().now().to_msg()
            if request.store:
                response.capture_ref = self._store(request, msg)
            else:
                response.capture = msg
            response.success = True
        except Exception as exc:
            response.success, response.message = False, f"imaging: {type(exc).__name__}: {exc}"
            self.get_logger().error(response.message)
        return response

    def _store(self, request, capture_msg) -> str:
        """The capture into the dataset store; its reference (a store error fails the capture)."""
        if not request.part_family:
            raise ValueError("store needs the part family")
        store_request = StoreCapture.Request(
            cycle_id=request.cycle_id, blade_serial=request.blade_serial, part_family=request.part_family
        )
        store_request.capture = capture_msg
        stored = self.store_srv.call(
            store_request, timeout=self.store_timeout_s or None, connect_timeout=self.connect_timeout_s
        )
        if not stored.success:
            raise RuntimeError(stored.message)
        return stored.capture_ref


def main(args: list[str] | None = None) -> None:
    """The imaging node on its own (`driver:=real`, for a plant); the simulated camera shares one world
    with arm and stage and runs in `bladecell_ros.nodes.sim_cell`."""
    run_standalone_driver("imaging", args)


if __name__ == "__main__":
    main()
