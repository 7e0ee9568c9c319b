"""Detector node: `detector/detect` runs the part family's deployed model on one capture.

The work is `bladecell_ros.services.detection.CaptureDetector` (model lookup in the registry, inference with
`autonad_core.Detector` on `device`, class mask -> defect records, predicted mask stored); this node
translates messages. Models load on first use per family and stay cached; each one loaded is timed
on this device and its family's triggers evaluated (`services.model_watch`, `watch_models`).
"""

from __future__ import annotations

from typing import Any

from bladecell_interfaces.srv import Detect
from rclpy.node import Node

from bladecell_ros.services.capture_store import CaptureStore
from bladecell_ros.services.detection import CaptureDetector, load_autonad_detector, registry_resolver
from bladecell_ros.services.model_watch import ModelWatch
from bladecell_ros.transport.conversions import msg_to_capture, region_to_msg
from bladecell_ros.transport.node_utils import data_home, outage_guard, param, run_nodes
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.part_families import BladeSurfaces, load_part_families
from platform_control.stage import StageKinematics


class DetectorNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("detector", **kwargs)
        device = param(self, "device", "cpu", "inference device (the model designer's target_device)")
        threads = param(self, "torch_threads", 0, "CPU threads for torch (0: torch default)")
        min_pixels = param(self, "min_region_pixels", 4, "smaller regions are dropped as speckle")
        families = param(
            self,
            "part_families_yaml",
            "",
            "blade models of the part families (as the coordinator's): defect areas corrected for the "
            "surface's tilt; empty: areas on the focus plane",
        )
        watch = param(
            self,
            "watch_models",
            True,
            "time each model loaded on this device and evaluate its family's redesign triggers",
        )
        from database.services import ModelRegistry

        home = data_home()
        self.watch = ModelWatch(home, device=device, log=self.get_logger().warning) if watch else None
        camera = load_camera_params()
        self.detector = CaptureDetector(
            CaptureStore(home),
            registry_resolver(ModelRegistry(), home),
            load_autonad_detector(device, threads),
            camera,
            StageKinematics(load_stage_params(), load_cell_layout(), camera),
            min_pixels=min_pixels,
            surface_of=BladeSurfaces(load_part_families(families, "detector.part_families_yaml"))
            if families.strip()
            else None,
            on_model_loaded=self.watch.model_loaded if self.watch else None,
            outage=outage_guard(self),
        )
        self.create_service(Detect, "detector/detect", self._on_detect)
        self.get_logger().info(f"detector ready on {device}")

    def _on_detect(self, request, response: Detect.Response) -> Detect.Response:
        try:
            capture = None if request.capture_ref else msg_to_capture(request.capture)[0]
            out = self.detector.detect(
                request.part_family, request.model_version or None, request.capture_ref, capture
            )
            viewpoint = int(request.capture.viewpoint_index) if capture is not None else None
            if viewpoint is None:
                from platform_control.cycle.refs import viewpoint_of

                viewpoint = viewpoint_of(request.capture_ref)
            response.defects = [region_to_msg(r, viewpoint) for r in out.regions]
            response.model_version = out.model_version
            response.mask_path, response.mask_sha256 = out.mask_path, out.mask_sha256
            response.height, response.width = out.height, out.width
            response.inference_ms = float(out.inference_ms)
            response.success = True
        except Exception as exc:
            response.success, response.message = False, f"detector: {type(exc).__name__}: {exc}"
            self.get_logger().error(response.message)
        return response


def main(args: list[str] | None = None) -> None:
    run_nodes(lambda: [DetectorNode()], args, threads=2)


if __name__ == "__main__":
    main()
