"""A custom interface message crosses a process boundary over real ROS 2 (Fast DDS, localhost)."""

from __future__ import annotations

import os
import textwrap

import pytest

pytestmark = pytest.mark.ros

PUBLISHER = textwrap.dedent(
    """
    import rclpy
    from bladecell_interfaces.msg import CellStatus
    rclpy.init()
    node = rclpy.create_node("plumbing_publisher")
    pub = node.create_publisher(CellStatus, "cell_status", 10)
    count = 0
    def tick():
        global count
        count += 1
        msg = CellStatus(cell_id="cell-7", state="SCANNING", viewpoint_index=count, viewpoint_count=40)
        msg.progress = 0.25
        pub.publish(msg)
    node.create_timer(0.05, tick)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    """
)


def test_environment_is_localhost_only() -> None:
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert 1 <= int(os.environ["ROS_DOMAIN_ID"]) <= 101


def test_cell_status_published_by_child_process_is_received(ros_processes, ros_probe) -> None:
    from bladecell_interfaces.msg import CellStatus
    from ros_support import DISCOVERY_TIMEOUT_S, wait_until

    received: list[CellStatus] = []
    ros_probe.node.create_subscription(CellStatus, "cell_status", received.append, 10)
    proc = ros_processes.start(["-c", PUBLISHER], name="publisher")

    def spin() -> None:
        assert proc.poll() is None, ros_processes.log_of(proc)
        ros_probe.spin_once()

    wait_until(
        lambda: ros_probe.node.count_publishers("cell_status") > 0,
        DISCOVERY_TIMEOUT_S,
        spin,
        "the child's cell_status publisher to be discovered",
    )
    wait_until(lambda: len(received) >= 3, DISCOVERY_TIMEOUT_S, spin, "three CellStatus messages")
    first = received[0]
    assert first.cell_id == "cell-7"
    assert first.state == "SCANNING"
    assert first.viewpoint_count == 40
    assert first.progress == pytest.approx(0.25)
    indices = [m.viewpoint_index for m in received]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)


def test_custom_action_and_service_types_are_generated() -> None:
    from bladecell_interfaces.action import DesignModel, FollowTrajectory, InspectBlade
    from bladecell_interfaces.srv import Capture, Detect

    goal = InspectBlade.Goal(blade_serial="SN-1", part_family="HPT-1", force_redesign=True)
    assert goal.force_redesign is True
    assert hasattr(InspectBlade.Feedback(), "viewpoint_index")
    assert hasattr(FollowTrajectory.Goal(), "trajectory")
    assert hasattr(DesignModel.Feedback(), "stage")
    assert hasattr(Capture.Response().capture, "frames")  # a MultispectralCapture
    assert hasattr(Detect.Response(), "defects")
