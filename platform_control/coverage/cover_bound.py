"""Lower bound on the scan time of *any* plan built from a candidate set, not only the one chosen.

The Held-Karp bound (`tour_bound`) judges the tour of the views a plan chose; it cannot say whether
another cover would travel less. This bound can: pick surface elements that no candidate sees two
of ("independent" elements). Every complete plan must visit, for each of them, one of the candidates
that sees it, and these candidates are distinct views. Stage move time is a metric (synchronised
move time is increasing and subadditive in the per-axis distances, and C is measured the short way
round, which the real, unwrapped legs can only exceed), so the plan's moves are at least the
shortest open path from the start that visits one candidate per independent element, in some order.
That path is found exactly by dynamic programming over subsets of the independent elements.

    scan time >= (set-cover lower bound on views) x (settle + capture per view) + that path

Both terms hold for every plan whose views come from the same candidates, so if the sum exceeds a
target, no plan over those candidates meets it; a denser candidate set can only lower the bound.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import sparse

from platform_control.coverage.ordering import move_times
from platform_control.stage import StageKinematics


def independent_elements(
    sets: sparse.spmatrix, need: np.ndarray, order: np.ndarray, max_elements: int, max_members: int
) -> list[np.ndarray]:
    """Covering candidates (rows of ``sets``) of needed elements, taken in ``order``, such that no
    candidate sees two of the elements taken; at most ``max_elements`` of them and ``max_members``
    candidates in all (the dynamic programme's size)."""
    csc = sparse.csc_matrix(sets, dtype=bool)
    used = np.zeros(sets.shape[0], dtype=bool)
    groups: list[np.ndarray] = []
    members = 0
    for e in order:
        if not need[e]:
            continue
        rows = csc.indices[csc.indptr[e] : csc.indptr[e + 1]]
        if len(rows) == 0 or used[rows].any() or members + len(rows) > max_members:
            continue
        groups.append(rows)
        used[rows] = True
        members += len(rows)
        if len(groups) >= max_elements:
            break
    return groups


def group_path_cost(
    groups: list[np.ndarray], axes: np.ndarray, start: np.ndarray, stage: StageKinematics
) -> float:
    """Least move time of an open path from ``start`` through one candidate of every group (exact).

    ``groups``: disjoint arrays of row indices into ``axes`` (N, 5). Subset dynamic programme:
    2^m x n^2 for m groups of n candidates in all, so keep m <= ~12 and n <= a few hundred.
    """
    if not groups:
        return 0.0
    m = len(groups)
    members = np.concatenate(groups)
    label = np.concatenate([np.full(len(g), k) for k, g in enumerate(groups)])
    pts = np.asarray(axes, dtype=float)[members]
    leg = move_times(pts, pts, stage)
    leg = np.minimum(leg, leg.T)
    first = move_times(np.asarray(start, dtype=float)[None], pts, stage)[0]
    slices = [np.flatnonzero(label == k) for k in range(m)]
    full = (1 << m) - 1
    dp = np.full((1 << m, len(members)), np.inf)
    for k, idx in enumerate(slices):
        dp[1 << k, idx] = first[idx]
    for s in range(1, full):
        row = dp[s]
        live = np.flatnonzero(np.isfinite(row))
        if len(live) == 0:
            continue
        reach = (row[live, None] + leg[live]).min(axis=0)  # cheapest arrival at each candidate
        for k, idx in enumerate(slices):
            if not s >> k & 1:
                t = s | 1 << k
                dp[t, idx] = np.minimum(dp[t, idx], reach[idx])
    return float(dp[full].min())


def cover_moves_lower_bound(
    sets: sparse.spmatrix,
    need: np.ndarray,
    axes: np.ndarray,
    start: np.ndarray,
    stage: StageKinematics,
    *,
    max_elements: int = 10,
    max_members: int = 300,
    tries: int = 12,
    deadline: float | None = None,
    seed: int = 0,
) -> float:
    """Seconds of stage moves that every plan covering ``need`` with rows of ``sets`` must spend.

    The best of ``tries`` choices of independent elements: the first takes the elements seen by the
    fewest candidates (small groups, far apart), the others break ties at random. Ends after the try
    that crosses ``deadline`` (a `time.perf_counter()` value); any try's value is a valid bound.
    """
    sets = sparse.csr_matrix(sets, dtype=bool)
    need = np.asarray(need, dtype=bool) & (np.asarray(sets.sum(axis=0)).ravel() > 0)
    seen_by = np.asarray(sets.sum(axis=0)).ravel()
    rng = np.random.default_rng(seed)
    best = 0.0
    for attempt in range(tries):
        noise = np.zeros(len(need)) if attempt == 0 else rng.random(len(need))
        order = np.lexsort((noise, seen_by))
        groups = independent_elements(sets, need, order, max_elements, max_members)
        best = max(best, group_path_cost(groups, axes, start, stage))
        if deadline is not None and time.perf_counter() >= deadline:
            break
    return best


def scan_time_lower_bound(views_lower_bound: int, per_view: float, moves_lower_bound: float) -> float:
    """The scan-time bound: every plan takes at least this many views, each settling and capturing,
    and at least this much travel (`cover_moves_lower_bound`)."""
    return views_lower_bound * per_view + moves_lower_bound
