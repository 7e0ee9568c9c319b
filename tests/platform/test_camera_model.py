"""Pinhole camera model: intrinsics, projection, focus, incidence, usable frame and collision envelope."""

from __future__ import annotations

import numpy as np
import pytest

from platform_control.camera import PinholeCamera, camera_optical_pose
from platform_control.params import load_camera_params, load_cell_layout
from platform_control.transforms import pose6_matrix

PARAMS = load_camera_params()


@pytest.fixture(scope="module")
def cam() -> PinholeCamera:
    return PinholeCamera(PARAMS)


def test_field_of_view_on_the_focus_plane(cam: PinholeCamera) -> None:
    w, h = cam.field_of_view()
    # 2448 x 2048 px of 3.45 um behind a 25 mm lens at 0.25 m: about 84 x 70 mm
    assert w == pytest.approx(PARAMS.width_px * PARAMS.pixel_size_um * 1e-6 * 0.25 / 0.025)
    assert 0.083 < w < 0.086 and 0.069 < h < 0.072
    uw, uh = cam.usable_field_of_view()
    assert uw == pytest.approx((1 - PARAMS.overlap) * w) and uh == pytest.approx((1 - PARAMS.overlap) * h)
    assert cam.field_of_view(0.5)[0] == pytest.approx(2 * w)


def test_projection_and_pixel_rays_are_inverse(cam: PinholeCamera) -> None:
    k = cam.intrinsics
    assert k[0, 0] == pytest.approx(PARAMS.focal_length_mm * 1000 / PARAMS.pixel_size_um)
    rng = np.random.default_rng(0)
    uv = rng.uniform([0, 0], [cam.width, cam.height], size=(50, 2))
    rays = cam.pixel_rays(uv)
    np.testing.assert_allclose(np.linalg.norm(rays, axis=1), 1.0)
    np.testing.assert_allclose(cam.project(rays * 0.3), uv, atol=1e-9)
    # the optical axis hits the principal point; a point behind the camera has no image
    np.testing.assert_allclose(cam.project([[0, 0, 0.25]]), [[cam.width / 2, cam.height / 2]])
    assert np.isnan(cam.project([[0, 0, -0.1]])).all()


def test_frame_edges(cam: PinholeCamera) -> None:
    w, h = cam.field_of_view()
    uw, _ = cam.usable_field_of_view()
    z = cam.working_distance
    pts = np.array(
        [[0.49 * w, 0, z], [0.51 * w, 0, z], [0.49 * uw, 0, z], [0.51 * uw, 0, z], [0, 0.49 * h, z]]
    )
    np.testing.assert_array_equal(cam.in_frame(pts, usable=False), [True, False, True, True, True])
    np.testing.assert_array_equal(cam.in_frame(pts, usable=True), [False, False, True, False, False])


def test_depth_of_field_band(cam: PinholeCamera) -> None:
    half = cam.depth_of_field / 2
    z = cam.working_distance + np.array([-half - 1e-4, -half + 1e-4, 0.0, half - 1e-4, half + 1e-4])
    pts = np.column_stack([np.zeros(5), np.zeros(5), z])
    np.testing.assert_array_equal(cam.in_focus(pts), [False, True, True, True, False])


def test_incidence_uses_the_line_of_sight(cam: PinholeCamera) -> None:
    on_axis = np.array([[0.0, 0.0, 0.25]])
    tilt = np.deg2rad(np.array([0.0, 30.0, 59.0, 61.0]))
    normals = np.column_stack([np.sin(tilt), np.zeros(4), -np.cos(tilt)])  # facing the camera (-z)
    angles = cam.incidence(np.repeat(on_axis, 4, axis=0), normals)
    np.testing.assert_allclose(angles, tilt, atol=1e-9)
    seen = cam.sees(np.repeat(on_axis, 4, axis=0), normals)
    np.testing.assert_array_equal(seen, [True, True, True, False])  # max incidence 60 deg
    # off-axis: a patch facing straight down the optical axis is seen obliquely
    off = np.array([[0.03, 0.0, 0.25]])
    assert cam.incidence(off, np.array([[0.0, 0.0, -1.0]]))[0] == pytest.approx(np.arctan2(0.03, 0.25))


def test_collision_envelope(cam: PinholeCamera) -> None:
    r, c = PARAMS.housing_radius, PARAMS.min_clearance
    pts = np.array([[0, 0, c / 2], [0, 0, 2 * c], [1.5 * r, 0, 0.0], [0.5 * r, 0, -0.05]])
    np.testing.assert_array_equal(cam.collides(pts), [True, False, False, True])


def test_camera_pose_from_the_layout() -> None:
    layout = load_cell_layout()
    pose = camera_optical_pose(layout)
    np.testing.assert_allclose(pose[:3, 3], layout.camera[:3])
    # looks along world -y; image right is world -x, image down is world -z; a proper rotation
    np.testing.assert_allclose(pose[:3, :3], [[-1, 0, 0], [0, 0, -1], [0, -1, 0]], atol=1e-12)
    assert np.linalg.det(pose[:3, :3]) == pytest.approx(1.0)
    np.testing.assert_allclose(pose6_matrix([0, 0, 0, 0, 0, np.pi / 2])[:3, 0], [0, 1, 0], atol=1e-12)
