"""The cell's part families are one parameter (`/**: part_families_yaml` in config/cell_sim.yaml) that
the coordinator, the detector and the model designer all read: the designer takes `like` from it, and
a node's own `part_families_yaml` (the tests' overlay gives the coordinator one) still wins."""

from __future__ import annotations

from pathlib import Path

import pytest
from cell_helpers import write_params

pytestmark = pytest.mark.ros

SHARED = "families:\n  HPT-A: {preset: small, seed: 3}\n  HPT-B: {preset: small, seed: 5, like: HPT-A}\n"
OWN = "families:\n  HPT-TEST: {preset: small, seed: 3}\n"


def test_designer_reads_like_from_the_shared_part_families(cell_home: Path, tmp_path: Path) -> None:
    import rclpy
    from bladecell_ros.bringup.graph import SIM_PARAMS
    from bladecell_ros.nodes.model_designer import ModelDesignerNode
    from rclpy.node import Node

    overlay = write_params(
        tmp_path / "overlay.yaml",
        {"/**": {"part_families_yaml": SHARED}, "cell_coordinator": {"part_families_yaml": OWN}},
    )
    context = rclpy.Context()
    rclpy.init(
        args=["--ros-args", "--params-file", str(SIM_PARAMS), "--params-file", str(overlay)], context=context
    )
    nodes = []
    try:
        designer = ModelDesignerNode(context=context)
        nodes.append(designer)
        assert designer.designer.likes == {"HPT-B": "HPT-A"}
        coordinator = Node("cell_coordinator", context=context)
        nodes.append(coordinator)
        own = coordinator.declare_parameter("part_families_yaml", "").value
        assert own == OWN  # the node's own entry over the shared one
        detector = Node("detector", context=context)
        nodes.append(detector)
        assert detector.declare_parameter("part_families_yaml", "").value == SHARED
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.shutdown(context=context)
