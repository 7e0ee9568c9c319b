"""Building blocks of the coverage planner: set cover, tour ordering, ray casting, surface elements."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from platform_control.blade import blade_preset, generate_blade
from platform_control.coverage.ordering import (
    assign_rotary_turns,
    leg_times,
    nearest_neighbour_tour,
    order_viewpoints,
    path_cost,
    travel_time_matrix,
    two_opt,
)
from platform_control.coverage.set_cover import greedy_set_cover, ilp_set_cover, lp_lower_bound
from platform_control.coverage.surface import InspectionSurface
from platform_control.coverage.visibility import MujocoRayCaster, TrimeshRayCaster
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


def test_ray_casters_agree(small_blade) -> None:
    rng = np.random.default_rng(2)
    targets = small_blade.triangles_center[rng.choice(len(small_blade.faces), 300, replace=False)]
    mj, tm = MujocoRayCaster(small_blade), TrimeshRayCaster(small_blade)
    for eye in ([0.0, 0.25, 0.05], [0.2, -0.1, 0.2]):
        a, b = mj.visible(np.array(eye), targets), tm.visible(np.array(eye), targets)
        assert 0.2 < a.mean() < 0.8  # a real mix of visible and hidden targets
        assert np.mean(a == b) >= 0.99  # grazing rays may differ by float32 vertex rounding


def test_inspection_surface_splits_and_excludes_clamped_faces(small_blade) -> None:
    surface = InspectionSurface.from_mesh(small_blade, element_size=0.004)
    assert surface.total_area == pytest.approx(small_blade.area, rel=1e-9)
    assert len(surface) > len(small_blade.faces)  # the large platform and cap faces were split
    assert surface.areas.max() < 0.004**2  # no element bigger than a triangle of 4 mm sides
    clamped = np.isin(surface.labels, ["root", "platform_underside"])
    np.testing.assert_array_equal(surface.required, ~clamped)
    assert surface.excluded_area == pytest.approx(surface.areas[clamped].sum())
    _, area = surface.parent_area(surface.required)
    assert area.sum() == pytest.approx(surface.required_area)
    with pytest.raises(ValueError, match="unknown clamped labels"):
        InspectionSurface.from_mesh(small_blade, clamped_labels=("fixture",))
