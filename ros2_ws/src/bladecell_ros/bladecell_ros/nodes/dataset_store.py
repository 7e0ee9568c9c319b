"""Dataset store node: writes every capture losslessly (+ its label mask) and exports labelled datasets.

    dataset_store/store_capture   StoreCapture   -> capture reference (manifest under $BLADECELL_HOME);
                                  called by the imaging node, so frames cross ROS once
    dataset_store/export          ExportDataset  -> autonad dataset folder of a family's labelled captures

The work is `bladecell_ros.services.capture_store.CaptureStore`; this node only translates messages.
"""

from __future__ import annotations

from typing import Any

from bladecell_interfaces.srv import ExportDataset, StoreCapture
from rclpy.node import Node

from bladecell_ros.services.capture_store import CaptureStore
from bladecell_ros.transport.conversions import msg_to_capture
from bladecell_ros.transport.node_utils import data_home, param, run_nodes


class DatasetStoreNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("dataset_store", **kwargs)
        self.val_fraction = param(
            self, "val_fraction", 0.2, "share of captures (cycles) held out for validation"
        )
        self.store = CaptureStore(data_home())
        self.create_service(StoreCapture, "dataset_store/store_capture", self._on_store)
        self.create_service(ExportDataset, "dataset_store/export", self._on_export)
        self.get_logger().info(f"capture store at {self.store.home}")

    def _on_store(self, request, response: StoreCapture.Response) -> StoreCapture.Response:
        try:
            capture, label, classes = msg_to_capture(request.capture)
            response.capture_ref = self.store.put(
                capture,
                cycle_id=request.cycle_id,
                blade_serial=request.blade_serial,
                part_family=request.part_family,
                label=label,
                label_classes=classes,
            )
            response.success = True
        except Exception as exc:
            response.success, response.message = False, f"dataset store: {type(exc).__name__}: {exc}"
            self.get_logger().error(response.message)
        return response

    def _on_export(self, request, response: ExportDataset.Response) -> ExportDataset.Response:
        try:
            summary = self.store.export(
                request.part_family, val_fraction=request.val_fraction or self.val_fraction
            )
            response.success = True
            response.dataset_dir = str(summary.dataset_dir)
            response.samples, response.train, response.val = summary.samples, summary.train, summary.val
            response.message = f"{summary.samples} labelled captures, channels {list(summary.channels)}"
        except Exception as exc:
            response.success, response.message = False, f"dataset export: {type(exc).__name__}: {exc}"
            self.get_logger().error(response.message)
        return response


def main(args: list[str] | None = None) -> None:
    run_nodes(lambda: [DatasetStoreNode()], args, threads=2)


if __name__ == "__main__":
    main()
