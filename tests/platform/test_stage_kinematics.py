"""Stage forward/inverse kinematics against the cell geometry in the parameter files."""

from __future__ import annotations

import numpy as np
import pytest

from platform_control.camera import camera_optical_pose
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.stage import StageKinematics, StageLimitError

PARAMS = load_stage_params()
LAYOUT = load_cell_layout()
CAMERA = load_camera_params()


@pytest.fixture(scope="module")
def stage() -> StageKinematics:
    return StageKinematics(PARAMS, LAYOUT, CAMERA)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two vectors, accurate near zero (atan2 of cross and dot)."""
    return float(np.arctan2(np.linalg.norm(np.cross(a, b)), np.dot(a, b)))


def test_home_pose_matches_the_documented_chain(stage: StageKinematics) -> None:
    pose = stage.axes_to_blade_pose(np.zeros(5))
    base = np.array(LAYOUT.stage_base[:3])
    expected = base + np.array([0, 0, PARAMS.a_axis_height + PARAMS.c_table_offset + PARAMS.fixture_height])
    np.testing.assert_allclose(pose[:3, 3], expected, atol=1e-12)
    np.testing.assert_allclose(pose[:3, :3], np.eye(3), atol=1e-12)


def test_each_axis_moves_the_blade_as_specified(stage: StageKinematics) -> None:
    home = stage.axes_to_blade_pose(np.zeros(5))
    moved = stage.axes_to_blade_pose([0.01, -0.02, 0.03, 0, 0])
    np.testing.assert_allclose(moved[:3, 3] - home[:3, 3], [0.01, -0.02, 0.03], atol=1e-12)
    # A tilts about an axis parallel to world x through the trunnion: the origin swings on a circle.
    a = 0.4
    tilted = stage.axes_to_blade_pose([0, 0, 0, a, 0])
    lever = PARAMS.c_table_offset + PARAMS.fixture_height
    pivot = np.array(LAYOUT.stage_base[:3]) + np.array([0, 0, PARAMS.a_axis_height])
    np.testing.assert_allclose(tilted[:3, 3] - pivot, [0, -lever * np.sin(a), lever * np.cos(a)], atol=1e-12)
    np.testing.assert_allclose(tilted[:3, 2], [0, -np.sin(a), np.cos(a)], atol=1e-12)
    # C spins about the blade's own z axis: the origin stays put, x turns in the table plane.
    spun = stage.axes_to_blade_pose([0, 0, 0, 0, 1.0])
    np.testing.assert_allclose(spun[:3, 3], home[:3, 3], atol=1e-12)
    np.testing.assert_allclose(spun[:3, 0], [np.cos(1.0), np.sin(1.0), 0], atol=1e-12)


def test_focus_point_is_on_the_optical_axis_at_working_distance(stage: StageKinematics) -> None:
    cam = camera_optical_pose(LAYOUT)
    np.testing.assert_allclose(cam[:3, 2], [0, -1, 0], atol=1e-12)  # looks along world -y
    np.testing.assert_allclose(stage.focus_point, cam[:3, 3] + [0, -CAMERA.working_distance, 0], atol=1e-12)
    # contract: the focus plane contains the C axis when Y = 0
    assert abs(stage.axes_to_blade_pose(np.zeros(5))[1, 3] - stage.focus_point[1]) < 1e-12


def test_round_trip_on_random_viewpoints(stage: StageKinematics) -> None:
    rng = np.random.default_rng(7)
    toward_camera = -stage.view_axis
    checked = 0
    for _ in range(600):
        point = rng.uniform([-0.05, -0.04, 0.0], [0.05, 0.04, 0.26])
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        try:
            axes = stage.viewpoint_to_axes(point, direction, current=rng.uniform(-0.1, 0.1, 5))
        except StageLimitError:
            continue
        assert stage.within_limits(axes)
        world = stage.blade_point_to_world(axes, point)
        assert np.linalg.norm(world - stage.focus_point) < 1e-9
        rot = stage.axes_to_blade_pose(axes)[:3, :3]
        assert _angle(rot @ direction, toward_camera) < 1e-9
        # the same viewpoint in the camera frame: on the optical axis at the working distance
        in_cam = stage.blade_pose_in_camera(axes) @ np.append(point, 1.0)
        np.testing.assert_allclose(in_cam[:3], [0, 0, CAMERA.working_distance], atol=1e-9)
        checked += 1
    assert checked > 300  # most random viewpoints of a blade-sized box are reachable


def test_every_solution_branch_is_exact_even_outside_limits(stage: StageKinematics) -> None:
    rng = np.random.default_rng(3)
    for _ in range(100):
        point = rng.uniform(-0.1, 0.1, 3)
        direction = rng.normal(size=3)
        sols = stage.viewpoint_solutions(point, direction)
        assert len(sols) >= 2  # A/C branches and whole turns of C
        for axes in sols:
            assert np.linalg.norm(stage.blade_point_to_world(axes, point) - stage.focus_point) < 1e-9
            rot = stage.axes_to_blade_pose(axes)[:3, :3]
            assert _angle(rot @ (direction / np.linalg.norm(direction)), -stage.view_axis) < 1e-9


def test_vertical_view_keeps_the_current_c(stage: StageKinematics) -> None:
    """Looking straight down the span leaves C free: the stage must not spin the table for nothing."""
    axes = stage.viewpoint_to_axes([0.0, 0.0, 0.08], [0.0, 0.0, 1.0], current=[0, 0, 0.2, -1.0, 1.234])
    assert axes[4] == pytest.approx(1.234)
    assert axes[3] == pytest.approx(-np.pi / 2)
    assert np.linalg.norm(stage.blade_point_to_world(axes, [0, 0, 0.08]) - stage.focus_point) < 1e-9


def test_nearest_c_turn_is_chosen(stage: StageKinematics) -> None:
    point, direction = np.array([0.0, 0.01, 0.05]), np.array([-0.2, 1.0, 0.0])  # C = -0.197 or one turn more
    near_zero = stage.viewpoint_to_axes(point, direction, current=np.zeros(5))
    near_turn = stage.viewpoint_to_axes(point, direction, current=[0, 0, 0, 0, 2 * np.pi])
    assert abs(near_zero[4]) <= np.pi
    assert near_turn[4] - near_zero[4] == pytest.approx(2 * np.pi)


def test_limits_are_checked_with_the_axis_named(stage: StageKinematics) -> None:
    assert stage.within_limits(np.zeros(5))
    bad = np.array([0.0, 0.0, PARAMS.limits[2][1] + 0.01, 0.0, 0.0])
    assert not stage.within_limits(bad)
    with pytest.raises(StageLimitError, match="stage_z") as info:
        stage.check_limits(bad)
    assert info.value.axis == "stage_z"
    assert info.value.limits == tuple(PARAMS.limits[2])
    assert isinstance(info.value, ValueError)


def test_unreachable_viewpoint_raises_stage_limit_error(stage: StageKinematics) -> None:
    # a point 1 m below the blade origin would need the carriage far above its Z travel
    with pytest.raises(StageLimitError, match="stage_z") as info:
        stage.viewpoint_to_axes([0.0, 0.0, -1.0], [0.0, 1.0, 0.0])
    lo, hi = PARAMS.limits[2]
    assert info.value.axis == "stage_z"
    assert not lo <= info.value.value <= hi
    # a point 1 m to the side cannot be brought onto the optical axis by X
    with pytest.raises(StageLimitError, match="unreachable"):
        stage.viewpoint_to_axes([1.0, 0.0, 0.05], [0.0, 1.0, 0.0])


@pytest.mark.parametrize("axes", [np.zeros(4), [0, 0, np.nan, 0, 0]])
def test_malformed_axes_are_rejected(stage: StageKinematics, axes) -> None:
    with pytest.raises(ValueError, match="5 finite values"):
        stage.axes_to_blade_pose(axes)


def test_zero_view_direction_is_rejected(stage: StageKinematics) -> None:
    with pytest.raises(ValueError, match="non-zero direction"):
        stage.viewpoint_to_axes([0, 0, 0.05], [0, 0, 0])
