"""The blade fixture and the C table as occluders of the coverage planner (issue 17): their shapes come
from the stage description, every ray caster is blocked by them, views through them see nothing, the
camera may not run into them, and the gaps they cause are reported as theirs."""

from __future__ import annotations

import numpy as np
import pytest

from platform_control.blade import blade_preset, generate_blade
from platform_control.camera import PinholeCamera
from platform_control.coverage import GAP_REASONS, CoveragePlanner, ScanTiming
from platform_control.coverage.fixture import fixture_mesh, fixture_meshes, fixture_probe
from platform_control.coverage.gaps import gap_reasons
from platform_control.coverage.picture import write_plan_report
from platform_control.coverage.surface import InspectionSurface
from platform_control.coverage.visibility import (
    RAY_BACKENDS,
    EmbreeRayCaster,
    OccludedRayCaster,
    ViewEvaluator,
    make_ray_caster,
)
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.sim.cell_parts import build_stage
from platform_control.stage import StageKinematics

CAMERA = load_camera_params()
TIMING = ScanTiming(n_channels=6, capture_time_per_channel=0.05)
FIXTURE = "occluded by the fixture"
SPEC = blade_preset("small")


@pytest.fixture(scope="module")
def stage() -> StageKinematics:
    return StageKinematics(load_stage_params(), load_cell_layout(), CAMERA)


@pytest.fixture(scope="module")
def blade():
    return generate_blade(SPEC, seed=5)


def _shape(name: str):
    links = build_stage(load_stage_params()).links
    return next(s for link in links for s in link.shapes if s.name == name)


def _under_platform_ray(elevation_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(eye, target): a line of sight from below and outside to the platform underside beside the
    root (+y side, where the clamp and the table are), at ``elevation_deg`` below the horizontal."""
    target = np.array([0.02, 0.5 * (0.5 * SPEC.root_width + 0.5 * SPEC.platform_width), SPEC.root_height])
    t = np.deg2rad(elevation_deg)
    return target + 0.4 * np.array([0.0, np.cos(t), -np.sin(t)]), target


def test_fixture_shapes_follow_the_stage_description() -> None:
    params = load_stage_params()
    clamp, table = _shape("fixture_clamp"), _shape("c_table")
    box, disc = fixture_meshes(params)
    # the clamp box sits right under the blade frame's origin (the root's bottom face) ...
    np.testing.assert_allclose(
        box.bounds[0], [-clamp.size[0] / 2, -clamp.size[1] / 2, -params.fixture_height]
    )
    np.testing.assert_allclose(box.bounds[1], [clamp.size[0] / 2, clamp.size[1] / 2, 0.0], atol=1e-12)
    # ... and the C table's disc under the clamp
    radius, thickness = table.size
    assert disc.bounds[1, 2] == pytest.approx(-params.fixture_height)
    assert disc.bounds[0, 2] == pytest.approx(-params.fixture_height - thickness)
    assert np.linalg.norm(disc.vertices[:, :2], axis=1).max() == pytest.approx(radius)
    # one source: a taller clamp in the stage parameters moves the table down in the blade frame
    taller = fixture_mesh(params.model_copy(update={"fixture_height": 2 * params.fixture_height}))
    assert taller.bounds[0, 2] == pytest.approx(-2 * params.fixture_height - thickness)
    # the probe covers the faces, not just the corners
    probe = fixture_probe(box, 0.003)
    assert len(probe) > 100 and np.all((probe >= box.bounds[0] - 1e-9) & (probe <= box.bounds[1] + 1e-9))


@pytest.mark.parametrize("backend", RAY_BACKENDS)
def test_rays_through_the_clamp_and_the_table_are_blocked(blade, backend: str) -> None:
    caster = make_ray_caster(blade, backend, occluder=fixture_mesh(load_stage_params()))
    assert isinstance(caster, OccludedRayCaster)
    h = load_stage_params().fixture_height
    steep_eye, steep_target = _under_platform_ray(55.0)  # through the C table
    flat_eye, flat_target = _under_platform_ray(25.0)  # passes beyond the table's rim
    eyes = np.array([[0.3, 0.0, -h / 2], steep_eye, flat_eye, [0.3, 0.1, -h / 2]])
    targets = np.array([[-0.3, 0.0, -h / 2], steep_target, flat_target, [-0.3, 0.1, -h / 2]])
    clear, by_fixture = caster.clear_and_occluder_blocked(eyes, targets)
    # through the clamp box; to the platform underside through the table; beside both: clear
    np.testing.assert_array_equal(clear, [False, False, True, True])
    np.testing.assert_array_equal(by_fixture, [True, True, False, False])
    np.testing.assert_array_equal(caster.visible_rays(eyes, targets), clear)
    np.testing.assert_array_equal(caster.blade.visible_rays(eyes, targets), [True] * 4)


def test_backends_agree_on_random_rays_past_the_fixture(blade) -> None:
    fixture = fixture_mesh(load_stage_params())
    rng = np.random.default_rng(7)
    targets = blade.triangles_center[rng.choice(len(blade.faces), 300, replace=False)]
    eyes = targets + 0.3 * np.column_stack(
        [rng.normal(size=300), rng.normal(size=300), -np.abs(rng.normal(size=300))]
    )
    results = [make_ray_caster(blade, b, occluder=fixture).visible_rays(eyes, targets) for b in RAY_BACKENDS]
    blocked = ~make_ray_caster(fixture, "trimesh").visible_rays(eyes, targets)
    assert 0.1 < blocked.mean() < 0.9  # a real mix of rays through and past the fixture
    for other in results[1:]:
        assert np.mean(other == results[0]) >= 0.99  # grazing rays may differ by float32 rounding


def test_view_seen_without_the_occluder_is_blocked_with_it(blade, stage: StageKinematics) -> None:
    """From below at 55 degrees the platform underside is in view, but the C table is in the way."""
    eye, target = _under_platform_ray(55.0)
    axes = stage.viewpoint_to_axes(target, (eye - target) / np.linalg.norm(eye - target))
    kw = {"timing": TIMING, "clamped_labels": ("root",)}
    through = CoveragePlanner(CAMERA, stage, fixture_occluder=False, **kw).evaluate(blade, [axes])
    blocked = CoveragePlanner(CAMERA, stage, **kw).evaluate(blade, [axes])
    assert through.per_label["platform_underside"][1] > 1e-5  # > 10 mm^2 seen through the fixture
    assert blocked.per_label["platform_underside"][1] == 0.0
    assert blocked.covered_area < through.covered_area and blocked.rejected_viewpoints == {}
    # the evaluator says which elements only the fixture kept from view
    surface = InspectionSurface.from_mesh(blade, 0.003, ("root",))
    fixture = fixture_mesh(stage.params)
    plain = ViewEvaluator(surface, PinholeCamera(CAMERA), stage, EmbreeRayCaster(blade)).evaluate(axes)
    occluded = ViewEvaluator(
        surface, PinholeCamera(CAMERA), stage, make_ray_caster(blade, occluder=fixture)
    ).evaluate(axes)
    assert len(plain.seen) > 0 and len(plain.occluder_blocked) == 0
    lost = np.setdiff1d(plain.seen, occluded.seen)
    assert len(lost) > 0
    np.testing.assert_array_equal(np.sort(occluded.occluder_blocked), lost)


def test_camera_may_not_run_into_the_c_table(blade, stage: StageKinematics) -> None:
    """With more Y travel towards the camera, a view of the table's rim from 20 mm before the lens
    would drive the table into the camera: refused with the occluder, not without."""
    params = stage.params
    limits = list(params.limits)
    limits[1] = (limits[1][0], 0.3)
    longer = StageKinematics(params.model_copy(update={"limits": tuple(limits)}), stage.layout, CAMERA)
    rim = np.array([0.0, _shape("c_table").size[0], -params.fixture_height - 0.006])
    towards_camera = np.array([0.0, 1.0, 0.0])
    axes = longer.viewpoint_to_axes(rim - (CAMERA.working_distance - 0.02) * towards_camera, towards_camera)
    off = CoveragePlanner(CAMERA, longer, fixture_occluder=False).evaluate(blade, [axes])
    on = CoveragePlanner(CAMERA, longer).evaluate(blade, [axes])
    assert off.rejected_viewpoints == {} and on.rejected_viewpoints == {"camera collision": 1}


def test_underside_next_to_the_clamp_is_reported_as_occluded_by_the_fixture(
    blade, stage: StageKinematics, tmp_path
) -> None:
    """Within 25 degrees of the platform underside's normal every line of sight beside the root runs
    into the C table: with the occluder those elements are unseen, and the fixture is named for them."""
    camera = CAMERA.model_copy(update={"max_incidence_deg": 25.0})
    kw = {"timing": TIMING, "clamped_labels": ("root",), "refine_rounds": 0, "solver": "greedy"}
    with_fixture = CoveragePlanner(camera, stage, **kw).plan(blade)
    without = CoveragePlanner(camera, stage, fixture_occluder=False, **kw).plan(blade)
    report, surface = with_fixture.coverage, with_fixture.surface
    _, target = _under_platform_ray(45.0)
    under = np.flatnonzero((surface.labels == "platform_underside") & surface.required)
    nearest = under[np.argmin(np.linalg.norm(surface.centers[under] - target, axis=1))]
    assert np.linalg.norm(surface.centers[nearest] - target) < 0.003
    assert report.element_gap_reason[nearest] == FIXTURE
    assert without.coverage.element_gap_reason[nearest] == ""  # seen through the fixture
    assert (
        report.per_label["platform_underside"][1] < 0.5 * without.coverage.per_label["platform_underside"][1]
    )
    assert FIXTURE in GAP_REASONS and report.gap_area[FIXTURE] > 50e-6  # mm^2 by reason
    assert len(report.gap_faces[FIXTURE]) > 0
    assert FIXTURE not in without.coverage.gap_area
    assert sum(report.gap_area.values()) == pytest.approx(report.uncovered_area, rel=1e-9)
    assert with_fixture.stats["fixture_occluder"] and not without.stats["fixture_occluder"]
    text, png = write_plan_report(with_fixture, tmp_path, "fixture")
    assert f"unseen, {FIXTURE}" in text.read_text() and png.stat().st_size > 20_000


def test_gap_reason_precedence(blade) -> None:
    """Hidden from outside > behind the fixture from every outside direction > a dropped view's reason
    > blocked by the fixture in a judged view > occluded or out of focus."""
    surface = InspectionSurface.from_mesh(blade, 0.003, ())
    caster = make_ray_caster(blade, occluder=fixture_mesh(load_stage_params()))
    top = np.flatnonzero(surface.labels == "platform_top")[:2]  # in plain view of the outside
    bottom = np.flatnonzero((surface.labels == "root") & (surface.normals[:, 2] < -0.99))[:1]  # on the clamp
    gap = np.concatenate([top, bottom])
    seen = np.ones(len(surface), dtype=bool)
    seen[gap] = False
    blocked = np.zeros(len(surface), dtype=bool)
    blocked[top] = True  # the bottom face is named for the fixture without any view's help
    dropped = [(surface.centers[top[0]], surface.normals[top[0]], "camera collision")]
    max_incidence = np.deg2rad(CAMERA.max_incidence_deg)
    reason = gap_reasons(surface, seen, dropped, caster, max_incidence, 1e-4, blocked)
    assert reason[top[0]] == "camera collision"  # a dropped view faced it: it might have seen it
    assert reason[top[1]] == FIXTURE  # a judged view was blocked by the fixture alone
    assert reason[bottom[0]] == FIXTURE  # the root's bottom face sits on the clamp
    plain = gap_reasons(surface, seen, dropped, caster.blade, max_incidence, 1e-4)
    assert plain[top[1]] == "occluded or out of focus" and plain[bottom[0]] == "occluded or out of focus"
