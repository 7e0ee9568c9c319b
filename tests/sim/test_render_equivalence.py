"""The fast renderer draws the same images as the old one (`sim_reference_render`, frozen before issue
15) from the same cell state. With the same rasterisation (no multisampling): identical geometry and
masks (also at the native 2448 x 2048), radiance and defocus within float32 rounding, noisy frames with
the same statistics. Against the old 4x-multisampled passes: the same geometry and masks, normals that
differ only along silhouettes and creases. Binned frames keep the camera's geometry and say their pixel
footprint; a binning the sensor does not divide is refused."""

from __future__ import annotations

import numpy as np
import pytest
import sim_reference_render as reference

from platform_control.params import load_camera_params
from platform_control.sim.cell import SimCell
from platform_control.sim.optics import binned_frame_size, load_optics
from platform_control.sim.sensor import frame_geometry
from platform_control.stage import StageKinematics


def _views(cell: SimCell, blade) -> list[np.ndarray]:
    """Stage axes looking at the first two defects, and one far off the blade's centre (blurred fixture)."""
    stage = StageKinematics(cell.stage_params, cell.layout, cell.camera_params)
    axes = [stage.viewpoint_to_axes(d.frame.center, d.frame.normal) for d in blade.defects[:2]]
    return [*axes, cell.pick_place.stage_load_axes]


@pytest.fixture(scope="module")
def pair(defective_blade):
    """A non-square 4x-binned-like frame (320 x 256) with the new and the old renderer on one cell."""
    optics = load_optics().with_resolution(320, 256)
    with SimCell(defective_blade, optics=optics) as cell:
        cell.place_blade("fixture")
        new = cell.renderer()
        old = reference.MultispectralRenderer(
            cell.cell,
            defective_blade,
            cell.camera_params,
            cell.layout,
            optics,
            geom_rgba=new.geometry_pass.geom_rgba,
            offsamples=0,
        )
        yield cell, new, old
        old.close()


def test_geometry_masks_radiance_and_defocus_match_the_old_renderer(pair, defective_blade) -> None:
    cell, new, old = pair
    for axes in _views(cell, defective_blade):
        cell.set_stage_axes(axes)
        a, b = old.scene(cell.data), new.scene(cell.data)
        np.testing.assert_array_equal(b.geometry.depth, a.geometry.depth)
        np.testing.assert_array_equal(b.geometry.geom, a.geometry.geom)
        np.testing.assert_array_equal(b.mask, a.mask)
        np.testing.assert_array_equal(b.instances, a.instances)
        seen = b.geometry.pixels
        np.testing.assert_array_equal(seen, np.flatnonzero(a.geometry.geom >= 0))
        np.testing.assert_allclose(b.geometry.points, a.geometry.points.reshape(-1, 3)[seen], atol=1e-12)
        np.testing.assert_array_equal(b.geometry.normals, a.geometry.normals.reshape(-1, 3)[seen])
        for channel in new.channels:
            ra, rb = old.radiance(a, channel), new.radiance(b, channel)
            assert ra.max() > 0 or not seen.size  # (the load pose sees nothing: empty frames)
            np.testing.assert_allclose(rb, ra, rtol=1e-4, atol=1e-5 * ra.max())
            da = old.sensor.defocus(ra, old.sensor.blur_diameter(a.geometry.depth))
            db = new.sensor.defocus(rb, b.defocus)
            np.testing.assert_allclose(db, da, rtol=1e-4, atol=1e-5 * ra.max())


def test_noisy_frames_have_the_old_statistics(pair, defective_blade) -> None:
    """Same mean level per channel (to 0.3 DN) and the same noise: new - old differs like two old frames
    with different seeds."""
    cell, new, old = pair
    cell.set_stage_axes(_views(cell, defective_blade)[0])
    a = old.capture(cell.data, np.random.default_rng(5))
    a2 = old.capture(cell.data, np.random.default_rng(6))
    b = new.capture(cell.data, np.random.default_rng(5))
    seen = new.scene(cell.data).geometry.geom >= 0
    assert b.frames.shape == a.frames.shape and b.frames.dtype == a.frames.dtype
    for k, channel in enumerate(a.channels):
        fa, fb = a.frames[k].astype(float), b.frames[k].astype(float)
        assert abs(fa[seen].mean() - fb[seen].mean()) < 0.3, channel
        noise = np.std(fa[seen] - a2.frames[k][seen])
        assert noise > 0.5 and np.std(fb[seen] - fa[seen]) == pytest.approx(noise, rel=0.1), channel
        assert abs(fa[~seen].mean() - fb[~seen].mean()) < 0.05, channel  # nothing seen: dark signal only


def test_without_multisampling_only_edge_normals_change(defective_blade) -> None:
    """The old passes were 4x multisampled: silhouette and crease pixels averaged their normal with the
    background or the next surface. Geometry and masks are the same; shading changes only there."""
    optics = load_optics().with_resolution(320, 256)
    with SimCell(defective_blade, optics=optics) as cell:
        cell.place_blade("fixture")
        new = cell.renderer()
        old = reference.MultispectralRenderer(
            cell.cell,
            defective_blade,
            cell.camera_params,
            cell.layout,
            optics,
            geom_rgba=new.geometry_pass.geom_rgba,
        )
        try:
            for axes in _views(cell, defective_blade)[:2]:
                cell.set_stage_axes(axes)
                a, b = old.scene(cell.data), new.scene(cell.data)
                np.testing.assert_array_equal(b.geometry.geom, a.geometry.geom)
                np.testing.assert_array_equal(b.geometry.depth, a.geometry.depth)
                np.testing.assert_array_equal(b.mask, a.mask)
                seen = b.geometry.pixels
                changed = (
                    np.abs(a.geometry.normals.reshape(-1, 3)[seen] - b.geometry.normals).max(axis=1) > 0.02
                )
                assert 0 < changed.mean() < 0.1  # (a nick seen edge-on: ~5 %)
                # the changed pixels border another geom, nothing, or a crease (a normal jump)
                g = np.pad(b.geometry.geom, 1, mode="edge")
                n = np.zeros((*b.geometry.geom.shape, 3), np.float32)
                n.reshape(-1, 3)[seen] = b.geometry.normals
                n = np.pad(n, ((1, 1), (1, 1), (0, 0)), mode="edge")
                rows, cols = np.divmod(seen[changed], b.geometry.geom.shape[1])
                edge = np.zeros(len(rows), bool)
                for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1)):
                    rr, cc = rows + 1 + dr, cols + 1 + dc
                    edge |= g[rr, cc] != g[rows + 1, cols + 1]
                    edge |= np.abs(n[rr, cc] - n[rows + 1, cols + 1]).max(axis=1) > 0.05
                assert edge.mean() > 0.9
                ra, rb = (
                    old.radiance(a, "white").reshape(-1)[seen],
                    new.radiance(b, "white").reshape(-1)[seen],
                )
                assert np.abs(ra - rb).mean() < 0.05 * ra.mean()  # 0.2-3.4 % at this small frame
        finally:
            old.close()


@pytest.mark.slow
def test_masks_are_exact_at_native_resolution(defective_blade) -> None:
    """At the sensor's own 2448 x 2048 the class mask and instance map equal the old renderer's, pixel
    for pixel, on a view centred on each of two defects."""
    camera = load_camera_params()
    optics = load_optics().with_binning(camera, 1)
    with SimCell(defective_blade, optics=optics) as cell:
        cell.place_blade("fixture")
        new = cell.renderer()
        old = reference.MultispectralRenderer(
            cell.cell,
            defective_blade,
            camera,
            cell.layout,
            optics,
            geom_rgba=new.geometry_pass.geom_rgba,
            offsamples=0,
        )
        try:
            for axes in _views(cell, defective_blade)[:2]:
                cell.set_stage_axes(axes)
                a, b = old.scene(cell.data), new.scene(cell.data)
                assert b.mask.shape == (2048, 2448)
                assert (b.mask > 0).sum() > 1000
                np.testing.assert_array_equal(b.mask, a.mask)
                np.testing.assert_array_equal(b.instances, a.instances)
        finally:
            old.close()


@pytest.mark.parametrize(("binning", "size"), [(1, (2448, 2048)), (2, (1224, 1024)), (4, (612, 512))])
def test_binning_renders_the_whole_sensor(binning: int, size: tuple[int, int]) -> None:
    camera = load_camera_params()
    assert binned_frame_size(camera, binning) == size
    optics = load_optics().with_binning(camera, binning)
    assert (optics.sensor.width, optics.sensor.height) == size
    geo = frame_geometry(camera, *size)
    assert geo.binning == pytest.approx(binning)
    # 3.45 um pixels behind 25 mm at 250 mm: 34.5 um on the part per sensor pixel (pinhole model)
    assert geo.pixel_footprint_um(camera.working_distance) == pytest.approx(34.5 * binning)


@pytest.mark.parametrize("binning", [3, 0, -2, 2.0, True])
def test_a_binning_the_sensor_does_not_divide_is_refused(binning) -> None:
    camera = load_camera_params()
    with pytest.raises(ValueError, match="binning") as err:
        load_optics().with_binning(camera, binning)
    if binning == 3:
        assert "does not divide the 2448 x 2048 sensor" in str(err.value)
        assert "[1, 2, 4, 8, 16]" in str(err.value)


def test_capture_metadata_states_the_pixel_footprint(defective_blade) -> None:
    camera = load_camera_params()
    optics = load_optics().with_binning(camera, 8)  # 306 x 256: the whole sensor, cheaply
    with SimCell(defective_blade, optics=optics) as cell:
        cell.place_blade("fixture")
        cap = cell.renderer().capture(cell.data, np.random.default_rng(0), channels=["white"])
    assert cap.frames.shape == (1, 256, 306)
    meta = cap.metadata()
    assert meta["width_px"] == 306 and meta["height_px"] == 256 and meta["binning"] == 8
    assert meta["pixel_footprint_um"] == pytest.approx(276.0)
    assert meta["channels"][0]["channel"] == "white"


def test_the_sim_camera_states_its_frame_without_rendering(defective_blade) -> None:
    from platform_control.sim.drivers import SimDrivers

    optics = load_optics().with_binning(load_camera_params(), 2)
    with SimCell(defective_blade, optics=optics) as cell:
        meta = SimDrivers(cell).camera.frame_metadata
        assert cell._renderer is None  # no GL context was opened for it
    assert meta == {"width_px": 1224, "height_px": 1024, "binning": 2.0, "pixel_footprint_um": 69.0}
