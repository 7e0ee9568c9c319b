"""Lower bounds on the scan time of any plan over a candidate set, and the tilted seed views."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import sparse

from platform_control.blade import blade_preset, generate_blade
from platform_control.coverage import CoveragePlanner, ScanTiming
from platform_control.coverage.cover_bound import (
    cover_moves_lower_bound,
    group_path_cost,
    independent_elements,
    scan_time_lower_bound,
)
from platform_control.coverage.ordering import move_times
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.stage import StageKinematics

CAMERA = load_camera_params()


@pytest.fixture(scope="module")
def stage() -> StageKinematics:
    return StageKinematics(load_stage_params(), load_cell_layout(), CAMERA)


def _random_instance(stage: StageKinematics, seed: int, n_cands: int = 7, n_elements: int = 9):
    rng = np.random.default_rng(seed)
    axes = rng.uniform(stage.limits[:, 0], stage.limits[:, 1], (n_cands, 5))
    dense = rng.random((n_cands, n_elements)) < 0.3
    dense[rng.integers(0, n_cands, n_elements), np.arange(n_elements)] = True  # every element coverable
    start = np.array([0.0, 0.0, 0.0, 0.0, 0.0])
    return axes, sparse.csr_matrix(dense), start


def _best_plan_moves(axes, sets, start, stage) -> float:
    """Brute force: least move time over every cover and every visiting order."""
    dense = sets.toarray()
    n = len(axes)
    nodes = np.vstack([start, axes])
    cost = move_times(nodes, nodes, stage)
    best = np.inf
    for k in range(1, n + 1):
        for cover in itertools.combinations(range(n), k):
            if not dense[list(cover)].any(axis=0).all():
                continue
            for order in itertools.permutations(cover):
                path = [0, *[i + 1 for i in order]]
                best = min(best, sum(cost[a, b] for a, b in itertools.pairwise(path)))
    return best


def test_moves_bound_never_exceeds_the_best_plan_over_all_covers(stage: StageKinematics) -> None:
    for seed in range(4):
        axes, sets, start = _random_instance(stage, seed)
        need = np.ones(sets.shape[1], dtype=bool)
        bound = cover_moves_lower_bound(sets, need, axes, start, stage, tries=6)
        best = _best_plan_moves(axes, sets, start, stage)
        assert 0 < bound <= best + 1e-9
        # at least the cheapest first leg: every plan leaves the start
        assert bound >= move_times(start[None], axes, stage).min() - 1e-9


def test_moves_bound_is_exact_when_every_element_has_one_view(stage: StageKinematics) -> None:
    axes, _, start = _random_instance(stage, 7, n_cands=6)
    sets = sparse.csr_matrix(np.eye(6, dtype=bool))  # each view is the only one for its element
    bound = cover_moves_lower_bound(sets, np.ones(6, dtype=bool), axes, start, stage)
    assert bound == pytest.approx(_best_plan_moves(axes, sets, start, stage))


def test_independent_elements_share_no_view() -> None:
    sets = sparse.csr_matrix(
        np.array([[1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 1]], dtype=bool)
    )
    groups = independent_elements(sets, np.ones(5, dtype=bool), np.arange(5), 10, 100)
    # element 0 (view 0), element 2 (view 1; element 1 shares views 0 and 1), element 3 (views 2, 3)
    assert [g.tolist() for g in groups] == [[0], [1], [2, 3]]
    assert independent_elements(sets, np.ones(5, dtype=bool), np.arange(5), 2, 100) == groups[:2]


def test_group_path_picks_the_best_member_and_order(stage: StageKinematics) -> None:
    axes = np.zeros((4, 5))
    axes[:, 0] = [0.1, -0.1, 0.12, -0.02]
    start = np.zeros(5)
    groups = [np.array([0, 1]), np.array([2, 3])]
    nodes = np.vstack([start, axes])
    cost = move_times(nodes, nodes, stage)
    best = min(cost[0, a + 1] + cost[a + 1, b + 1] for g, h in (groups, groups[::-1]) for a in g for b in h)
    assert group_path_cost(groups, axes, start, stage) == pytest.approx(best)
    assert group_path_cost([], axes, start, stage) == 0.0
    assert scan_time_lower_bound(3, 0.35, 2.0) == pytest.approx(3.05)


@pytest.fixture(scope="module")
def plans(stage: StageKinematics):
    blade = generate_blade(blade_preset("small"), seed=21)
    timing = ScanTiming(n_channels=6, capture_time_per_channel=0.05)
    tilted = CoveragePlanner(CAMERA, stage, timing=timing, seed_tilts_deg=(40.0,)).plan(blade)
    head_on = CoveragePlanner(CAMERA, stage, timing=timing, seed_tilts_deg=()).plan(blade)
    return tilted, head_on


def test_plan_time_is_above_its_scan_bound(plans) -> None:
    for plan in plans:
        st = plan.stats
        assert st["per_view_s"] == pytest.approx(0.05 + 6 * 0.05)
        assert 0 < st["cover_moves_lower_bound_s"] <= plan.timing.moves + 1e-9
        assert st["scan_lower_bound_s"] <= plan.estimated_scan_time + 1e-9
        assert st["scan_lower_bound_s"] >= st["lower_bound"] * st["per_view_s"]


def test_tilted_seed_views_cut_views_and_scan_time_without_losing_coverage(plans) -> None:
    tilted, head_on = plans
    assert tilted.stats["candidates"] > 3 * head_on.stats["candidates"]
    assert tilted.coverage.covered_area >= head_on.coverage.covered_area - 1e-12
    assert tilted.coverage.complete and tilted.coverage.stopped is None
    assert len(tilted) < len(head_on)
    assert tilted.estimated_scan_time < 0.95 * head_on.estimated_scan_time


def test_tilted_seeds_stop_at_the_ilp_size_limit(stage: StageKinematics) -> None:
    blade = generate_blade(blade_preset("small"), seed=21)
    plan = CoveragePlanner(CAMERA, stage, ilp_max_candidates=300, seed_tilts_deg=(40.0,)).plan(blade)
    assert plan.stats["candidates"] == 300  # ~150 head-on and refinement views, then tilted ones
    assert plan.stats["solver"].startswith("ilp") and plan.stats["lower_bound"] is not None
    assert plan.coverage.complete and plan.coverage.stopped is None
