"""Class mask -> defect records: regions, areas, contours, confidences, blade locations, IoU."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from platform_control.defect_regions import DefectRegion, ViewGeometry, extract_defects
from platform_control.defect_scoring import defect_iou
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.stage import StageKinematics

CLASSES = ("background", "crack", "nick", "dent", "pitting", "coating_loss", "burn")


def _mask_with_regions() -> np.ndarray:
    mask = np.zeros((100, 120), np.uint8)
    mask[10:14, 20:60] = 1  # crack line 4 x 40 = 160 px
    mask[70:72, 5:8] = 1  # crack speckle 2 x 3 = 6 px
    mask[90, 100] = 1  # single pixel: below min_pixels
    cv2.circle(mask, (80, 50), 12, 6, thickness=-1)  # burn disc
    return mask


def test_regions_split_by_class_and_connectivity() -> None:
    mask = _mask_with_regions()
    regions = extract_defects(mask, CLASSES, min_pixels=4)
    assert [(r.defect_class, r.pixel_area) for r in regions] == [
        ("crack", 160),
        ("crack", 6),
        ("burn", int((mask == 6).sum())),
    ]
    crack = regions[0]
    assert crack.bbox == (20, 10, 40, 4)
    assert crack.centroid_px == pytest.approx((39.5, 11.5))
    burn = regions[2]
    x, y, w, h = burn.bbox
    assert (w, h) == (25, 25) and (x, y) == (68, 38)
    # the contour is the region's outer boundary: inside its bbox, enclosing about its area
    assert np.all(burn.contour >= (x, y)) and np.all(burn.contour < (x + w, y + h))
    assert cv2.contourArea(burn.contour.astype(np.int32)) == pytest.approx(burn.pixel_area, rel=0.15)
    assert all(len(r.contour) <= 64 for r in regions)
    assert all(r.confidence == 1.0 and r.area_mm2 == 0.0 and r.location_m is None for r in regions)


def test_min_pixels_drops_speckle() -> None:
    regions = extract_defects(_mask_with_regions(), CLASSES, min_pixels=10)
    assert [r.pixel_area for r in regions if r.defect_class == "crack"] == [160]


def test_confidence_is_the_mean_class_probability_of_the_region() -> None:
    mask = np.zeros((20, 20), np.uint8)
    mask[5:10, 5:10] = 3
    probs = np.zeros((len(CLASSES), 20, 20), np.float32)
    probs[0] = 1.0
    probs[3, 5:10, 5:10] = np.linspace(0.5, 0.9, 25).reshape(5, 5)
    probs[0, 5:10, 5:10] = 1 - probs[3, 5:10, 5:10]
    (region,) = extract_defects(mask, CLASSES, probs)
    assert region.defect_class == "dent"
    assert region.confidence == pytest.approx(0.7, abs=1e-6)


def test_long_contours_are_simplified_to_at_most_64_points() -> None:
    mask = np.zeros((400, 400), np.uint8)
    pts = (200 + 150 * np.c_[np.cos(np.linspace(0, 6.28, 300)), np.sin(np.linspace(0, 6.28, 300))]).astype(
        np.int32
    )
    jagged = pts + np.random.default_rng(0).integers(-6, 7, pts.shape)
    cv2.fillPoly(mask, [jagged.astype(np.int32)], 5)
    (region,) = extract_defects(mask, CLASSES)
    assert 8 <= len(region.contour) <= 64
    assert cv2.contourArea(region.contour.astype(np.int32)) == pytest.approx(region.pixel_area, rel=0.1)


def test_frame_geometry_of_the_binned_simulator_frame() -> None:
    camera = load_camera_params()
    view = ViewGeometry.for_frame(
        1024,
        1024,
        sensor_width_px=camera.width_px,
        sensor_height_px=camera.height_px,
        sensor_focal_px=camera.focal_length_px,
        distance_m=camera.working_distance,
    )
    # the central 2048 x 2048 of the sensor, 2 x 2 binned: half the focal length in frame pixels
    assert view.focal_px == pytest.approx(camera.focal_length_px / 2)
    # one frame pixel = 2 sensor pixels of 3.45 um seen at 0.25 m through a 25 mm lens = 69 um
    assert view.pixel_size_m == pytest.approx(2 * 3.45e-6 * 0.25 / 0.025)
    mask = np.zeros((1024, 1024), np.uint8)
    mask[500:600, 500:600] = 4  # 100 x 100 px = 6.9 x 6.9 mm
    (region,) = extract_defects(mask, CLASSES, view=view)
    assert region.area_mm2 == pytest.approx(6.9**2, rel=1e-3)


def test_location_maps_the_view_centre_to_the_viewpoint_on_the_blade() -> None:
    camera, layout, stage_params = load_camera_params(), load_cell_layout(), load_stage_params()
    stage = StageKinematics(stage_params, layout, camera)
    point = np.array([0.004, -0.002, 0.05])
    normal = np.array([0.3, -1.0, 0.1]) / np.linalg.norm([0.3, -1.0, 0.1])
    axes = stage.viewpoint_to_axes(point, normal)
    view = ViewGeometry.for_frame(
        256,
        256,
        sensor_width_px=camera.width_px,
        sensor_height_px=camera.height_px,
        sensor_focal_px=camera.focal_length_px,
        distance_m=camera.working_distance,
        blade_from_camera=stage.camera_in_blade(axes),
    )
    np.testing.assert_allclose(view.pixels_to_blade(np.array([[128.0, 128.0]]))[0], point, atol=1e-9)
    mask = np.zeros((256, 256), np.uint8)
    mask[127:129, 127:129] = 2  # 2 x 2 region centred on the frame centre
    (region,) = extract_defects(mask, CLASSES, view=view, min_pixels=1)
    np.testing.assert_allclose(region.location_m, point, atol=1e-9)
    # a region to the right of centre lies along the blade direction that maps to image +x
    mask[:] = 0
    mask[127:129, 227:229] = 2
    (right,) = extract_defects(mask, CLASSES, view=view, min_pixels=1)
    offset = right.location_m - point
    assert np.linalg.norm(offset) == pytest.approx(100 * view.pixel_size_m, rel=1e-6)
    assert abs(offset @ normal) < 1e-9  # on the plane through the viewpoint, facing the camera
    record = right.to_dict()
    assert record["location_mm"] == pytest.approx((right.location_m * 1e3).tolist(), abs=1e-3)


def test_bad_masks_are_refused_with_clear_errors() -> None:
    with pytest.raises(ValueError, match="2-D"):
        extract_defects(np.zeros((2, 4, 4), np.uint8), CLASSES)
    with pytest.raises(ValueError, match="integer"):
        extract_defects(np.zeros((4, 4), np.float32), CLASSES)
    bad = np.zeros((4, 4), np.uint8)
    bad[0, 0] = 9
    with pytest.raises(ValueError, match=r"index\(es\) \[9\]"):
        extract_defects(bad, CLASSES)
    with pytest.raises(ValueError, match="probabilities have shape"):
        extract_defects(np.zeros((4, 4), np.uint8), CLASSES, np.zeros((3, 4, 4)))
    ignored = np.full((4, 4), 255, np.uint8)
    assert extract_defects(ignored, CLASSES) == []
    with pytest.raises(ValueError, match="no blade_from_camera"):
        ViewGeometry(100.0, 2.0, 2.0, 0.25).pixels_to_blade(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="distance_m"):
        ViewGeometry(100.0, 2.0, 2.0, 0.0)


def test_defect_iou_counts_overlap_of_any_defect_and_per_class() -> None:
    truth = np.zeros((10, 10), np.uint8)
    pred = np.zeros((10, 10), np.uint8)
    truth[0:4, 0:4] = 1  # 16 px crack
    pred[0:4, 2:6] = 1  # 16 px crack, 8 overlap
    truth[8:10, 8:10] = 6  # 4 px burn, predicted as pitting
    pred[8:10, 8:10] = 4
    result = defect_iou(pred, truth, CLASSES)
    assert result["defect_iou"] == pytest.approx((8 + 4) / (24 + 4))
    assert result["per_class"]["crack"] == pytest.approx(8 / 24)
    assert result["per_class"]["burn"] == 0.0 and result["per_class"]["pitting"] == 0.0
    assert result["per_class"]["dent"] is None
    assert (result["predicted_pixels"], result["true_pixels"]) == (20, 20)
    with pytest.raises(ValueError, match="differ in shape"):
        defect_iou(pred, truth[:5], CLASSES)


def test_region_record_is_json_ready() -> None:
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:5] = 2
    (region,) = extract_defects(mask, CLASSES)
    assert isinstance(region, DefectRegion)
    record = region.to_dict()
    assert record["defect_class"] == "nick" and record["bbox"] == [2, 2, 3, 3]
    assert record["location_mm"] is None and isinstance(record["contour"][0][0], int)


def test_sizes_and_locations_agree_with_the_simulator_ground_truth() -> None:
    """Render a view centred on each synthetic defect: the region extracted from the simulator's mask
    lies on the defect's anchor and its area matches the defect's physical size (pi r^2)."""
    import platform_control.sim  # noqa: F401  (offscreen GL back-end)
    from platform_control.blade import blade_preset, generate_blade, label_mask
    from platform_control.sim.cell import SimCell
    from platform_control.sim.optics import load_optics
    from platform_control.sim.placement import BladeSurface, sample_defects
    from platform_control.sim.render import SimBlade

    mesh = generate_blade(blade_preset("small"), seed=3)
    surface = BladeSurface(mesh, label_mask(mesh, ["airfoil"]))
    defects = sample_defects(
        surface, np.random.default_rng(11), count=3, classes=("burn", "coating_loss", "dent")
    )
    with SimCell(SimBlade(mesh, defects, 5), optics=load_optics().with_resolution(256, 256)) as cell:
        camera = cell.camera_params
        stage = StageKinematics(cell.stage_params, cell.layout, camera)
        cell.place_blade("fixture")
        for defect in defects:
            axes = stage.viewpoint_to_axes(defect.frame.center, defect.frame.normal)
            cell.set_stage_axes(axes)
            mask = cell.renderer().capture(cell.data, np.random.default_rng(0)).mask
            view = ViewGeometry.for_frame(
                256,
                256,
                sensor_width_px=camera.width_px,
                sensor_height_px=camera.height_px,
                sensor_focal_px=camera.focal_length_px,
                distance_m=camera.working_distance,
                blade_from_camera=stage.camera_in_blade(axes),
            )
            regions = [r for r in extract_defects(mask, CLASSES, view=view) if r.defect_class == defect.kind]
            region = min(regions, key=lambda r: np.linalg.norm(r.location_m - defect.frame.center))
            assert np.linalg.norm(region.location_m - defect.frame.center) < 0.5e-3  # within 0.5 mm
            nominal = np.pi * (defect.params["radius_m"] * 1e3) ** 2
            assert region.area_mm2 == pytest.approx(nominal, rel=0.25)


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(np.asarray(axis, dtype=float) / np.linalg.norm(axis) * angle).as_matrix()


@pytest.mark.parametrize("tilt_deg", [0.0, 45.0, 60.0])
def test_area_of_a_tilted_surface_is_corrected_by_the_incidence_angle(tilt_deg: float) -> None:
    """A 10 x 10 mm square on a plane tilted by `tilt_deg` to the view, imaged off-centre: with the
    blade's surface (a mesh in the blade frame) the area comes out at 100 mm²; the fronto-parallel
    model under-sizes it by about cos(tilt)."""
    import trimesh

    from platform_control.defect_regions import MeshSurface

    camera = load_camera_params()
    size = 512
    base = ViewGeometry.for_frame(
        size,
        size,
        sensor_width_px=camera.width_px,
        sensor_height_px=camera.height_px,
        sensor_focal_px=camera.focal_length_px,
        distance_m=camera.working_distance,
    )
    d = camera.working_distance
    # the plane in the camera frame: through p0, tilted about the camera's x axis
    p0 = np.array([0.012, -0.008, d + 0.004])
    tilt = _rotation([1, 0, 0], np.radians(tilt_deg))
    e1, e2, normal = tilt[:, 0], tilt[:, 1], tilt[:, 2]
    # ground truth mask: pixels whose centre ray meets the square (exact point sampling)
    ys, xs = np.mgrid[0:size, 0:size]
    rays = np.stack(
        [(xs + 0.5 - base.cx) / base.focal_px, (ys + 0.5 - base.cy) / base.focal_px, np.ones(xs.shape)], -1
    )
    t = (p0 @ normal) / (rays @ normal)
    offsets = rays * t[..., None] - p0
    inside = (np.abs(offsets @ e1) <= 0.005) & (np.abs(offsets @ e2) <= 0.005)
    mask = inside.astype(np.uint8) * 3
    # the blade frame is somewhere else: the plane's mesh lives there, the camera pose maps into it
    blade_from_camera = np.eye(4)
    blade_from_camera[:3, :3] = _rotation([0.3, -1.0, 0.5], 1.1)
    blade_from_camera[:3, 3] = [0.05, -0.2, 0.03]
    corners = np.array([p0 + 0.1 * (a * e1 + b * e2) for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1))])
    plane = trimesh.Trimesh(
        corners @ blade_from_camera[:3, :3].T + blade_from_camera[:3, 3],
        [[0, 1, 2], [0, 2, 3]],
        process=False,
    )
    view = ViewGeometry(base.focal_px, base.cx, base.cy, d, blade_from_camera, MeshSurface(plane))
    (region,) = extract_defects(mask, CLASSES, view=view)
    assert region.area_mm2 == pytest.approx(100.0, rel=0.03)
    centre = blade_from_camera[:3, :3] @ p0 + blade_from_camera[:3, 3]
    assert np.linalg.norm(region.location_m - centre) < 2e-4  # on the surface, at the square's centre
    flat = ViewGeometry(base.focal_px, base.cx, base.cy, d, blade_from_camera)
    (uncorrected,) = extract_defects(mask, CLASSES, view=flat)
    cos = np.cos(np.radians(tilt_deg))
    assert uncorrected.area_mm2 == pytest.approx(100.0 * cos, rel=0.08)
    if tilt_deg >= 45:
        assert uncorrected.area_mm2 < 0.8 * region.area_mm2


def test_surface_misses_fall_back_to_the_focus_plane() -> None:
    """Rays that miss the mesh (prediction past the blade's edge) count as on the fronto-parallel plane;
    a fronto-parallel surface at the focus distance gives exactly the plane model's pixel area."""
    import trimesh

    from platform_control.defect_regions import MeshSurface

    view0 = ViewGeometry(1000.0, 50.0, 50.0, 0.25)
    half = 0.01  # a 2 x 2 cm fronto-parallel patch at the focus distance covers the central 80 x 80 px
    plane = trimesh.Trimesh(
        [[-half, -half, 0.25], [half, -half, 0.25], [half, half, 0.25], [-half, half, 0.25]],
        [[0, 1, 2], [0, 2, 3]],
        process=False,
    )
    view = ViewGeometry(1000.0, 50.0, 50.0, 0.25, np.eye(4), MeshSurface(plane))
    uv = np.array([[50.5, 50.5], [30.5, 70.5], [95.5, 50.5]])  # centre, off-centre on the patch, off it
    areas = view.pixel_areas_m2(uv)
    np.testing.assert_allclose(areas, view0.pixel_size_m**2, rtol=1e-9)
    np.testing.assert_allclose(view.locate(uv[:2])[:, 2], 0.25, atol=1e-12)
    # a region entirely off the blade: every ray misses
    mask = np.zeros((100, 100), np.uint8)
    mask[2:6, 2:6] = 5
    (region,) = extract_defects(mask, CLASSES, view=view)
    assert region.area_mm2 == pytest.approx(16 * view0.pixel_area_mm2)
    np.testing.assert_allclose(region.location_m, view0.pixels_to_camera(np.array([[4.0, 4.0]]))[0])


def _sighting(view: int, cls: str, at_mm, area_mm2: float, pixels: int, bbox) -> dict:
    return {
        "viewpoint_index": view,
        "defect_class": cls,
        "location_mm": list(at_mm),
        "area_mm2": area_mm2,
        "pixel_area": pixels,
        "bbox": list(bbox),
        "confidence": 0.9,
    }


def test_sightings_of_one_defect_from_two_viewpoints_are_one_record() -> None:
    from platform_control.defect_regions import merge_views

    # a crack 4 mm long (100 px at 0.04 mm/px wide bbox) seen from viewpoints 2 and 5, centroids 1.5 mm
    # apart (the second view sees only part of it); the same class 30 mm away and a nick at the same
    # place stay separate; a record without a location is kept
    a = _sighting(2, "crack", (10.0, 0.0, 5.0), 0.64, 400, (0, 0, 100, 4))
    b = _sighting(5, "crack", (11.5, 0.0, 5.0), 0.32, 200, (0, 0, 50, 4))
    far = _sighting(5, "crack", (40.0, 0.0, 5.0), 0.64, 400, (0, 0, 100, 4))
    nick = _sighting(5, "nick", (10.0, 0.0, 5.0), 0.2, 100, (0, 0, 10, 10))
    loose = {**_sighting(1, "dent", (0, 0, 0), 1.0, 50, (0, 0, 7, 7)), "location_mm": None}
    merged = merge_views([b, a, far, nick, loose])
    assert len(merged) == 4
    crack = merged[0]
    assert crack["viewpoints"] == [2, 5] and crack["viewpoint_index"] == 2 and crack["area_mm2"] == 0.64
    assert [m["defect_class"] for m in merged] == ["crack", "crack", "nick", "dent"]
    assert merged[1]["viewpoints"] == [5] and merged[3]["location_mm"] is None
    # 10 mm apart is more than the half-extents (2 + 1 mm) plus the gap: two cracks
    assert len(merge_views([a, {**b, "location_mm": [20.0, 0.0, 5.0]}])) == 2
    with pytest.raises(ValueError, match="gap_mm"):
        merge_views([a], gap_mm=-1)
