"""The multispectral camera: masks align pixel-exactly with the rendered defects, every defect stands out
in its designated channel, geometry and intrinsics are right, and a seed replays identical frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import trimesh
from scipy.stats import ks_2samp

from platform_control.imaging import capture_viewpoint, load_imaging_plan
from platform_control.sim.cell import SimCell, SimConfig
from platform_control.sim.defects import load_defects_config
from platform_control.sim.drivers import SimDrivers
from platform_control.sim.optics import load_optics
from platform_control.sim.render import SimBlade
from platform_control.stage import StageKinematics

ALL_CLASSES = load_defects_config().classes[1:]


RES = 512


def _view_direction(defect) -> np.ndarray:
    """Head-on for surface defects; nicks (frame normal = out of the edge) from 60 degrees to the side."""
    n = defect.frame.normal
    if defect.kind != "nick":
        return n
    c, s = np.cos(np.radians(60)), np.sin(np.radians(60))
    return np.array([c * n[0] - s * n[1], s * n[0] + c * n[1], n[2]])


@pytest.fixture(scope="module")
def render_cell(defective_blade):
    with SimCell(defective_blade, optics=load_optics().with_resolution(RES, RES)) as cell:
        cell.place_blade("fixture")
        yield cell


def _look_at(cell: SimCell, defect) -> None:
    stage = StageKinematics(cell.stage_params, cell.layout, cell.camera_params)
    cell.set_stage_axes(stage.viewpoint_to_axes(defect.frame.center, _view_direction(defect)))


@pytest.mark.parametrize("kind", ALL_CLASSES)
def test_mask_is_exactly_where_the_defect_changes_the_image(
    render_cell, defective_blade, defects_config, kind
):
    """Render the view with only this defect and with none: the mask covers exactly the changed pixels
    (burns fade out beyond their half-strength mask), and the defect differs measurably from the
    surrounding surface in its designated channel, in the noisy frame."""
    number = [d.kind for d in defective_blade.defects].index(kind)
    defect = defective_blade.defects[number]
    _look_at(render_cell, defect)
    renderer = render_cell.renderer()
    full = renderer.scene(render_cell.data)
    mine = full.instances == number
    assert mine.sum() >= 15, f"{kind} barely visible ({mine.sum()} px)"
    assert np.all(full.mask[mine] == defects_config.index(kind))
    others = (full.instances >= 0) & ~mine
    channel = defects_config.of(kind).channel
    setting = renderer.plan.setting(channel)
    frame = renderer.expose(full, channel, setting.exposure_ms, setting.gain, np.random.default_rng(0))
    frame = frame.astype(float)
    blade = np.zeros(full.mask.size, bool)
    blade[full.blade_pixels] = True
    blade = blade.reshape(full.mask.shape)
    try:
        renderer.set_blade(SimBlade(defective_blade.mesh, [defect], defective_blade.texture_seed))
        alone = renderer.scene(render_cell.data)
        damaged = np.stack([renderer.radiance(alone, c) for c in renderer.channels])
        renderer.set_blade(SimBlade(defective_blade.mesh, [], defective_blade.texture_seed))
        intact_scene = renderer.scene(render_cell.data)
        intact = np.stack([renderer.radiance(intact_scene, c) for c in renderer.channels])
    finally:
        renderer.set_blade(defective_blade)
    assert not intact_scene.mask.any()
    np.testing.assert_array_equal(alone.instances == 0, mine | ((alone.instances == 0) & others))
    changed = (np.abs(damaged - intact) > 1e-6 * (1 + intact)).any(axis=0)
    assert np.all(changed[mine]), f"{(~changed[mine]).sum()} labelled {kind} pixels look intact"
    outside = changed & ~(alone.instances == 0)
    if kind == "burn":
        assert outside.sum() > 0  # the tint fades out beyond the half-strength outline
    else:
        assert outside.sum() == 0, f"{outside.sum()} pixels changed by the {kind} outside its mask"

    # measurable contrast in the designated channel of a real (noisy) frame
    near = cv2.dilate(mine.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    gap = cv2.dilate(mine.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    ring = near & ~gap & blade & ~(full.instances >= 0)
    assert ring.sum() >= 20
    inside, around = frame[mine], frame[ring]
    # distributions differ (a dent is a darker crater wall around an unchanged floor: its mean barely
    # moves); every other class also shifts the mean by several grey levels
    test = ks_2samp(inside, around)
    assert test.statistic > 0.15 and test.pvalue < 1e-6, f"{kind} in {channel}: {test}"
    if kind != "dent":
        assert abs(inside.mean() - around.mean()) > 6, f"{kind}: {inside.mean():.1f} vs {around.mean():.1f}"


def test_each_class_shows_best_in_its_designated_channel(render_cell, defective_blade, defects_config):
    """The appearance is class specific: coating loss is far more visible under UV than under white
    light, a burn under NIR than under blue, a crack under dark field than under NIR."""
    renderer = render_cell.renderer()
    pairs = {
        "coating_loss": ("uv365", "white"),
        "burn": ("nir850", "blue450"),
        "crack": ("darkfield", "nir850"),
    }
    for kind, (strong, weak) in pairs.items():
        number = [d.kind for d in defective_blade.defects].index(kind)
        _look_at(render_cell, defective_blade.defects[number])
        scene = renderer.scene(render_cell.data)
        mine = scene.instances == number
        blade = np.zeros(scene.mask.size, bool)
        blade[scene.blade_pixels] = True
        ring = cv2.dilate(mine.astype(np.uint8), np.ones((21, 21), np.uint8)).astype(bool) & ~mine
        ring &= blade.reshape(mine.shape) & (scene.instances < 0)

        contrast = {}
        for channel in (strong, weak):
            rad = renderer.radiance(scene, channel)
            contrast[channel] = abs(np.log(rad[mine].mean() / rad[ring].mean()))
        assert contrast[strong] > 1.5 * contrast[weak], (kind, contrast)


def test_geometry_pass_puts_pixels_on_the_blade_surface(render_cell, defective_blade) -> None:
    defect = defective_blade.defects[0]
    _look_at(render_cell, defect)
    renderer = render_cell.renderer()
    scene = renderer.scene(render_cell.data)
    pose = render_cell.blade_pose()
    pick = np.arange(0, len(scene.blade_pixels), max(len(scene.blade_pixels) // 1500, 1))
    world = scene.blade_points[pick]
    np.testing.assert_array_equal(  # the seen pixels' points, in pixel order, include the blade's
        scene.geometry.points[np.searchsorted(scene.geometry.pixels, scene.blade_pixels[pick])], world
    )
    local = (world - pose[:3, 3]) @ pose[:3, :3]
    _, distance, face = trimesh.proximity.closest_point(defective_blade.mesh, local)
    assert np.percentile(distance, 99) < 1e-4  # 0.1 mm, pixels are ~0.14 mm here
    seen = np.searchsorted(scene.geometry.pixels, scene.blade_pixels[pick])
    normals = scene.geometry.normals[seen] @ pose[:3, :3]
    agree = np.einsum("ij,ij->i", normals, defective_blade.mesh.face_normals[face])
    assert np.median(agree) > 0.98
    # the view is centred on the defect: its anchor projects onto the principal point
    k = renderer.sensor.geometry.intrinsics
    cam = scene.geometry.camera_position
    from platform_control.camera import camera_optical_pose

    optical = camera_optical_pose(render_cell.layout)
    anchor = pose[:3, :3] @ defect.frame.center + pose[:3, 3]
    p = optical[:3, :3].T @ (anchor - optical[:3, 3])
    uv = (k @ (p / p[2]))[:2]
    np.testing.assert_allclose(uv, [RES / 2, RES / 2], atol=0.5)
    np.testing.assert_allclose(cam, optical[:3, 3], atol=1e-9)


def _capture(blade: SimBlade, seed: int, axes: np.ndarray):
    with SimCell(blade, SimConfig(seed=seed), optics=load_optics().with_resolution(128, 128)) as cell:
        cell.place_blade("fixture")
        cell.set_stage_axes(axes)
        drivers = SimDrivers(cell)
        cap = capture_viewpoint(load_imaging_plan(), drivers.lights, drivers.camera, 0, axes)
        return cap.frames, drivers.camera.last_mask


def test_same_seed_gives_identical_images(defective_blade) -> None:
    from platform_control.params import load_camera_params, load_cell_layout, load_stage_params

    stage = StageKinematics(load_stage_params(), load_cell_layout(), load_camera_params())
    d = defective_blade.defects[3]
    axes = stage.viewpoint_to_axes(d.frame.center, d.frame.normal)
    frames_a, mask_a = _capture(defective_blade, 7, axes)
    frames_b, mask_b = _capture(defective_blade, 7, axes)
    frames_c, mask_c = _capture(defective_blade, 8, axes)
    assert frames_a.shape == (6, 128, 128) and frames_a.max() > 50
    np.testing.assert_array_equal(frames_a, frames_b)
    np.testing.assert_array_equal(mask_a, mask_b)
    assert not np.array_equal(frames_a, frames_c)  # another seed: other noise...
    np.testing.assert_array_equal(mask_a, mask_c)  # ...same scene
    assert np.abs(frames_a.astype(int) - frames_c).mean() < 3
