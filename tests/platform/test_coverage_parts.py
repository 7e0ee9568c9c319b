"""Building blocks of the coverage planner: set cover, tour ordering, ray casting, surface elements."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.csgraph import minimum_spanning_tree

from platform_control.blade import blade_preset, generate_blade, label_mask
from platform_control.blade.cad_like import aspect_ratios, cad_like_blade
from platform_control.camera import PinholeCamera
from platform_control.coverage.exposure import exposed_elements
from platform_control.coverage.ordering import (
    assign_rotary_turns,
    leg_times,
    move_times,
    nearest_neighbour_tour,
    order_viewpoints,
    path_cost,
    travel_time_matrix,
    two_opt,
)
from platform_control.coverage.set_cover import greedy_set_cover, ilp_set_cover, lp_lower_bound
from platform_control.coverage.surface import InspectionSurface
from platform_control.coverage.tour_bound import path_lower_bound
from platform_control.coverage.view_swap import swap_for_travel
from platform_control.coverage.visibility import (
    EmbreeRayCaster,
    MujocoRayCaster,
    TrimeshRayCaster,
    ViewEvaluator,
)
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.stage import StageKinematics
from platform_control.trajectory import move_time


@pytest.fixture(scope="module")
def stage() -> StageKinematics:
    return StageKinematics(load_stage_params(), load_cell_layout(), load_camera_params())


@pytest.fixture(scope="module")
def small_blade():
    return generate_blade(blade_preset("small"), seed=5)


def _sets(rows: list[list[int]], n: int) -> sparse.csr_matrix:
    data = [(i, e) for i, r in enumerate(rows) for e in r]
    r, c = zip(*data, strict=True)
    return sparse.csr_matrix((np.ones(len(r), dtype=bool), (r, c)), shape=(len(rows), n))


def test_greedy_is_beaten_by_the_ilp_on_the_classic_trap() -> None:
    # optimum: the two halves; greedy grabs the big mixed set first and needs three
    halves = [list(range(0, 7)), list(range(7, 14))]
    trap = [[0, 1, 2, 3, 7, 8, 9, 10], [4, 5, 11, 12], [6, 13]]
    sets = _sets(trap + halves, 15)  # element 14 is in no set: uncoverable, ignored
    universe = np.ones(15, dtype=bool)
    greedy = greedy_set_cover(sets, universe)
    assert sorted(greedy) == [0, 1, 2]
    ilp = ilp_set_cover(sets, universe)
    assert ilp is not None and ilp.optimal
    assert sorted(ilp.chosen) == [3, 4]
    assert lp_lower_bound(sets, universe) == 2


def test_random_instances_are_covered_within_the_greedy_guarantee() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        dense = rng.random((40, 300)) < 0.06
        sets = sparse.csr_matrix(dense)
        universe = rng.random(300) < 0.9
        coverable = universe & dense.any(axis=0)
        greedy = greedy_set_cover(sets, universe)
        ilp = ilp_set_cover(sets, universe, time_limit=10)
        for chosen in (greedy, ilp.chosen):
            assert np.all(dense[chosen].any(axis=0)[coverable])
        d = dense.sum(axis=1).max()
        harmonic = sum(1 / k for k in range(1, d + 1))
        assert len(ilp.chosen) <= len(greedy) <= harmonic * len(ilp.chosen)
        # pruning leaves no redundant set
        for i in greedy:
            rest = [j for j in greedy if j != i]
            assert not np.all(dense[rest].any(axis=0)[coverable])


def test_travel_times_use_the_synchronised_move_and_the_short_way_round(stage: StageKinematics) -> None:
    a = np.array([0.0, 0.0, 0.2, 0.0, 3.0])
    b = np.array([0.05, -0.02, 0.25, 0.3, -3.0])  # C: 0.28 rad the short way, not 6 rad
    cost = travel_time_matrix(np.vstack([a, b]), stage)
    b_short = b.copy()
    b_short[4] = 3.0 + (2 * np.pi - 6.0)
    expected = move_time(a, b_short, stage.max_velocity, stage.max_acceleration)
    assert cost[0, 1] == pytest.approx(expected) and cost[1, 0] == pytest.approx(expected)
    assert expected < move_time(a, b, stage.max_velocity, stage.max_acceleration)


def test_two_opt_untangles_a_shuffled_line(stage: StageKinematics) -> None:
    xs = np.linspace(-0.14, 0.14, 25)
    rng = np.random.default_rng(1)
    axes = np.zeros((25, 5))
    axes[:, 0] = rng.permutation(xs)
    axes[:, 2] = 0.2
    start = np.array([-0.15, 0.0, 0.2, 0.0, 0.0])
    order = order_viewpoints(axes, start, stage)
    assert np.all(np.diff(axes[order, 0]) > 0)  # straight along the line from the start end
    cost = travel_time_matrix(np.vstack([start, axes]), stage)
    nn = nearest_neighbour_tour(cost, 0)
    assert path_cost(two_opt(nn, cost), cost) <= path_cost(nn, cost) + 1e-12


def test_rotary_turns_stay_in_range_and_follow_the_tour(stage: StageKinematics) -> None:
    axes = np.zeros((4, 5))
    axes[:, 2] = 0.2
    axes[:, 4] = [3.0, -3.0, -2.0, 3.1]  # crossing +-pi the short way keeps turning forwards
    out = assign_rotary_turns(axes, np.array([0, 0, 0.2, 0, 2.5]), stage)
    np.testing.assert_allclose(out[:, 4], [3.0, 2 * np.pi - 3.0, 2 * np.pi - 2.0, 3.1])
    assert np.all(out[:, 4] <= stage.limits[4, 1])
    legs = leg_times(out, np.array([0, 0, 0.2, 0, 2.5]), stage)
    assert legs.shape == (4,) and np.all(legs > 0)


@pytest.fixture(scope="module")
def sliver_blade():
    return cad_like_blade(blade_preset("small"), seed=5)


@pytest.mark.parametrize("which", ["generated", "cad_like"])
def test_ray_casters_agree(small_blade, sliver_blade, which: str) -> None:
    mesh = small_blade if which == "generated" else sliver_blade
    if which == "cad_like":
        assert np.percentile(aspect_ratios(mesh), 95) > 40  # span-long slivers, as CAD lofts export
    rng = np.random.default_rng(2)
    targets = mesh.triangles_center[rng.choice(len(mesh.faces), 300, replace=False)]
    casters = [EmbreeRayCaster(mesh), MujocoRayCaster(mesh), TrimeshRayCaster(mesh)]
    for eye in ([0.0, 0.25, 0.05], [0.2, -0.1, 0.2]):
        embree, mujoco, reference = (c.visible(np.array(eye), targets) for c in casters)
        assert 0.2 < reference.mean() < 0.8  # a real mix of visible and hidden targets
        assert np.mean(embree == reference) >= 0.99  # grazing rays may differ by float32 rounding
        assert np.mean(mujoco == reference) >= 0.99


def test_embree_takes_rays_from_many_eyes_in_one_call(small_blade) -> None:
    rng = np.random.default_rng(3)
    targets = small_blade.triangles_center[rng.choice(len(small_blade.faces), 200, replace=False)]
    eyes = np.array([[0.0, 0.25, 0.05], [0.2, -0.1, 0.2], [-0.2, 0.0, 0.3]])
    caster, reference = EmbreeRayCaster(small_blade), TrimeshRayCaster(small_blade)
    many_eyes = np.repeat(eyes, len(targets), axis=0)
    many_targets = np.tile(targets, (len(eyes), 1))
    batch = caster.visible_rays(many_eyes, many_targets)
    one_by_one = np.concatenate([caster.visible(e, targets) for e in eyes])
    np.testing.assert_array_equal(batch, one_by_one)
    assert np.mean(batch == reference.visible_rays(many_eyes, many_targets)) >= 0.99
    with pytest.raises(ValueError, match="coincides"):
        caster.visible_rays(targets[:1], targets[:1])


def test_batched_view_evaluation_equals_one_view_at_a_time(small_blade, stage: StageKinematics) -> None:
    surface = InspectionSurface.from_mesh(small_blade, element_size=0.003)
    evaluator = ViewEvaluator(
        surface, PinholeCamera(load_camera_params()), stage, EmbreeRayCaster(small_blade)
    )
    req = np.flatnonzero(surface.required)[::150]
    axes = [stage.viewpoint_to_axes(surface.centers[i], surface.normals[i]) for i in req[:12]]
    batch = evaluator.evaluate_many(axes)
    assert sum(len(r.seen) for r in batch) > 0
    for a, r in zip(axes, batch, strict=True):
        single = evaluator.evaluate(a)
        assert single.collision == r.collision
        np.testing.assert_array_equal(single.seen, r.seen)


def test_surface_elements_follow_area_not_triangulation(small_blade, sliver_blade) -> None:
    size = 0.003
    dense = cad_like_blade(blade_preset("small"), seed=5, target_faces=80_000)
    assert len(dense.faces) >= 64 * len(sliver_blade.faces)
    counts = []
    for mesh in (small_blade, sliver_blade, dense):
        surface = InspectionSurface.from_mesh(mesh, element_size=size)
        assert surface.total_area == pytest.approx(mesh.area, rel=1e-9)
        counts.append(len(surface))
        # an element is about element_size across: its tangent triangle stays within the cube diagonal
        radius = np.linalg.norm(surface.corners - surface.centers[:, None], axis=2).max(axis=1)
        assert radius.max() <= np.sqrt(3) * size + 1e-12
        assert surface.areas.max() < 3 * size**2
    # the same shape as 840 sliver faces or ~54k subdivided ones: the same count (sampling noise)
    assert counts[2] / counts[1] == pytest.approx(1.0, abs=0.03)
    # the 2-section loft is a slightly different shape (ruled, faceted edges) with the same area
    assert counts[1] / counts[0] == pytest.approx(1.0, abs=0.2)
    assert mesh.area / size**2 < counts[0] < 3 * mesh.area / size**2
    # doubling the element size quarters the count (it follows area / footprint)
    coarse = InspectionSurface.from_mesh(small_blade, element_size=2 * size)
    assert 0.2 < len(coarse) / counts[0] < 0.35


def test_inspection_surface_excludes_clamped_faces(small_blade) -> None:
    surface = InspectionSurface.from_mesh(small_blade, element_size=0.004)
    clamped = np.isin(surface.labels, ["root", "platform_underside"])
    assert clamped.any() and not clamped.all()
    np.testing.assert_array_equal(surface.required, ~clamped)
    assert surface.excluded_area == pytest.approx(surface.areas[clamped].sum())
    # the clamped share of the area matches the mesh's clamped faces (sampling error < 3 %)
    mesh_clamped = small_blade.area_faces[label_mask(small_blade, ["root", "platform_underside"])].sum()
    assert surface.excluded_area == pytest.approx(mesh_clamped, rel=0.03)
    _, area = surface.parent_area(surface.required)
    assert area.sum() == pytest.approx(surface.required_area)
    with pytest.raises(ValueError, match="unknown clamped labels"):
        InspectionSurface.from_mesh(small_blade, clamped_labels=("fixture",))
    with pytest.raises(ValueError, match="element_size"):
        InspectionSurface.from_mesh(small_blade, element_size=0.0)


def test_internal_sheet_is_hidden_from_outside(stage: StageKinematics) -> None:
    mesh = cad_like_blade(blade_preset("small"), seed=5, internal_sheet=True)
    n_sheet = 32  # the sheet's faces come last
    surface = InspectionSurface.from_mesh(mesh, element_size=0.003)
    exposed = exposed_elements(surface, EmbreeRayCaster(mesh))
    on_sheet = surface.parent >= len(mesh.faces) - n_sheet
    assert on_sheet.sum() > 10
    assert not exposed[on_sheet].any()
    assert exposed[~on_sheet].mean() > 0.97  # the outer surface: all but the root's deepest notches


def test_tour_lower_bound_is_below_the_best_path_and_above_the_spanning_tree() -> None:
    rng = np.random.default_rng(4)
    for n in (5, 7, 8):
        pts = rng.random((n, 2))
        cost = np.linalg.norm(pts[:, None] - pts[None], axis=2)
        best = min(path_cost([0, *p], cost) for p in itertools.permutations(range(1, n)))
        mst = minimum_spanning_tree(cost).sum()
        bound = path_lower_bound(cost)
        assert mst - 1e-12 <= bound <= best + 1e-9
        assert bound >= 0.95 * best  # Held-Karp penalties close most of the MST gap here
    # points on a line: the MST is the optimal path, and the bound equals it
    line = np.abs(np.subtract.outer(np.arange(6.0), np.arange(6.0)))
    assert path_lower_bound(line) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="symmetric"):
        path_lower_bound(np.array([[0.0, 1.0], [2.0, 0.0]]))


def test_vectorised_move_times_equal_the_trajectory_module(stage: StageKinematics) -> None:
    rng = np.random.default_rng(5)
    a = rng.uniform(stage.limits[:, 0], stage.limits[:, 1], (12, 5))
    b = rng.uniform(stage.limits[:, 0], stage.limits[:, 1], (9, 5))
    b[0] = a[0]  # no move at all
    got = move_times(a, b, stage)
    for i in range(len(a)):
        for j in range(len(b)):
            goal = b[j].copy()
            goal[4] = a[i, 4] + (b[j, 4] - a[i, 4] + np.pi) % (2 * np.pi) - np.pi
            assert got[i, j] == pytest.approx(
                move_time(a[i], goal, stage.max_velocity, stage.max_acceleration)
            )
    assert got[0, 0] == 0.0


def test_views_are_swapped_for_nearer_ones_and_redundant_ones_dropped(stage: StageKinematics) -> None:
    axes = np.zeros((4, 5))
    axes[:, 2] = 0.2
    axes[:, 0] = [0.05, -0.14, 0.08, 0.06]  # A, B (far side), C (next to A), D (next to A)
    sets = _sets([[0, 1], [2, 3], [2, 3], [1]], 4)  # C sees what B sees; D adds nothing to A
    start = np.array([0.0, 0.0, 0.2, 0.0, 0.0])
    need = np.ones(4, dtype=bool)
    path = swap_for_travel([0, 3, 1], sets, need, axes, start, stage)
    assert sorted(path) == [0, 2]  # B swapped for C, D dropped
    cost = travel_time_matrix(np.vstack([start, axes]), stage)
    assert path_cost([0, *[i + 1 for i in path]], cost) < path_cost([0, 1, 4, 2], cost)
    # nothing better exists: the cover stays as it is
    assert swap_for_travel(path, sets, need, axes, start, stage) == path


def test_rotary_turns_minimise_the_whole_tour_not_each_leg(stage: StageKinematics) -> None:
    """Stepping +170 deg per stop, nearest-to-previous winds into the C end stop and must unwind."""
    axes = np.zeros((6, 5))
    axes[:, 2] = 0.2
    axes[:, 4] = np.deg2rad(170.0) * np.arange(1, 7)
    start = np.array([0.0, 0.0, 0.2, 0.0, 0.0])
    best = np.inf
    lo, hi = stage.limits[4]
    choices = [[c + 2 * np.pi * k for k in range(-3, 4) if lo <= c + 2 * np.pi * k <= hi] for c in axes[:, 4]]
    for combo in itertools.product(*choices):
        trial = axes.copy()
        trial[:, 4] = combo
        best = min(best, leg_times(trial, start, stage).sum())
    out = assign_rotary_turns(axes, start, stage)
    assert leg_times(out, start, stage).sum() == pytest.approx(best)
    assert np.all((out[:, 4] >= lo) & (out[:, 4] <= hi))
    np.testing.assert_allclose((out[:, 4] - axes[:, 4]) % (2 * np.pi) % (2 * np.pi - 1e-9), 0, atol=1e-9)
