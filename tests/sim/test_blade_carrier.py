"""The blade's holder rules: grip inside the bounds only, release to a near receiver, the bin, or loose."""

import numpy as np
import pytest

from platform_control.sim.blade_carrier import REJECT_BIN_DROP, RELEASE_TOLERANCE, BladeCarrier
from platform_control.transforms import pose6_matrix, pose_error

BOUNDS = np.array([[-0.01, -0.02, 0.0], [0.01, 0.02, 0.10]])  # blade frame, m
TRAY = pose6_matrix([0.5, 0.0, 0.1, 0, 0, 0.3])
MOUNT = pose6_matrix([0.0, 0.6, 0.3, 0, 0, 0])
BIN = pose6_matrix([-0.4, 0.2, 0.5, 0, 0, 0])


def _gripped_at(tool: np.ndarray) -> BladeCarrier:
    carrier = BladeCarrier("tray", TRAY.copy())
    assert carrier.grip(tool, TRAY, BOUNDS)
    return carrier


def test_grip_needs_the_tool_centre_inside_the_blade_bounds() -> None:
    carrier = BladeCarrier("tray", TRAY.copy())
    outside = TRAY @ pose6_matrix([0.0, 0.0, 0.12, 0, 0, 0])  # 2 cm above the tip, beyond the 3 mm margin
    assert not carrier.grip(outside, TRAY, BOUNDS)
    assert carrier.holder == "tray"
    inside = TRAY @ pose6_matrix([0.0, 0.0, 0.05, np.pi, 0, 0])
    assert carrier.grip(inside, TRAY, BOUNDS)
    assert carrier.holder == "gripper"
    # the blade now moves with the tool, keeping its grasp offset
    moved_tool = pose6_matrix([0.1, 0.2, 0.4, 0.2, -0.1, 1.0])
    np.testing.assert_allclose(carrier.pose(MOUNT, moved_tool), moved_tool @ np.linalg.inv(inside) @ TRAY)


def test_release_near_the_fixture_keeps_the_actual_pose_and_follows_the_mount() -> None:
    grasp = TRAY @ pose6_matrix([0, 0, 0.05, np.pi, 0, 0])
    carrier = _gripped_at(grasp)
    offset = pose6_matrix([0.002, 0.0, 0.0, 0.0, 0.0, np.radians(2.0)])  # inside 3 mm / 3 deg
    released = MOUNT @ offset
    carrier.release(released, MOUNT, TRAY, BIN)
    assert carrier.holder == "fixture"
    np.testing.assert_allclose(carrier.pose(MOUNT, grasp), released, atol=1e-12)
    moved_mount = pose6_matrix([0.1, 0.5, 0.2, 0, 0.4, 0])
    dp, da = pose_error(carrier.pose(moved_mount, grasp), moved_mount @ offset)
    assert dp < 1e-12 and da < 1e-9


def test_release_just_beyond_the_tolerance_is_not_taken_by_the_fixture() -> None:
    carrier = _gripped_at(TRAY @ pose6_matrix([0, 0, 0.05, np.pi, 0, 0]))
    released = MOUNT @ pose6_matrix([1.5 * RELEASE_TOLERANCE[0], 0, 0, 0, 0, 0])
    carrier.release(released, MOUNT, TRAY, BIN)
    assert carrier.holder == "loose"
    np.testing.assert_allclose(carrier.pose(MOUNT, np.eye(4)), released)


def test_release_above_the_bin_opening_drops_the_blade_onto_its_floor() -> None:
    carrier = _gripped_at(TRAY @ pose6_matrix([0, 0, 0.05, np.pi, 0, 0]))
    above = BIN @ pose6_matrix([0.05, -0.05, 0.2, 0, 0, 0])
    carrier.release(above, MOUNT, TRAY, BIN)
    assert carrier.holder == "reject_bin"
    pose = carrier.pose(MOUNT, np.eye(4))
    assert pose[2, 3] == pytest.approx(BIN[2, 3] - REJECT_BIN_DROP)
    np.testing.assert_allclose(pose[:2, 3], above[:2, 3])
    # a blade in the bin cannot be gripped again
    assert not carrier.grip(pose, pose, BOUNDS)


def test_release_without_a_gripped_blade_changes_nothing() -> None:
    carrier = BladeCarrier("tray", TRAY.copy())
    carrier.release(MOUNT, MOUNT, TRAY, BIN)
    assert carrier.holder == "tray"
    np.testing.assert_allclose(carrier.pose(MOUNT, np.eye(4)), TRAY)
