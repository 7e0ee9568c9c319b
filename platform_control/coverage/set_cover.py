"""Choose few viewpoints that together see every coverable surface element (minimum set cover).

- `greedy_set_cover`: the classic greedy rule (take the view that sees most still-unseen elements),
  which uses at most H(d) ~ ln d + 1 times the optimal number of views (d = the most elements one
  view sees), followed by dropping views made redundant by later ones.
- `ilp_set_cover`: the exact 0/1 programme with scipy's HiGHS (`scipy.optimize.milp`) for instances
  small enough to solve in seconds; elements seen by exactly the same views are merged first.
- `lp_lower_bound`: the LP relaxation, a certificate of how far from optimal a solution can be.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp


@dataclass(frozen=True)
class CoverSolution:
    chosen: list[int]  # row indices of the chosen sets
    method: str  # 'greedy' or 'ilp'
    optimal: bool  # proven optimal (ILP finished) or not
    lower_bound: int | None  # proven lower bound on the optimal number of sets, if computed


def greedy_set_cover(sets: sparse.csr_matrix, universe: np.ndarray) -> list[int]:
    """Greedy cover of the elements flagged in ``universe`` (E,) by rows of ``sets`` (S, E) (bool/0-1).

    Elements no row contains are ignored (they cannot be covered). Returns chosen row indices in the
    order picked, after removing rows whose elements are all covered by other chosen rows.
    """
    sets = sparse.csr_matrix(sets, dtype=bool)
    need = np.asarray(universe, dtype=bool) & (np.asarray(sets.sum(axis=0)).ravel() > 0)
    covered = ~need
    rows = [sets.indices[sets.indptr[i] : sets.indptr[i + 1]] for i in range(sets.shape[0])]
    heap = [(-int(need[r].sum()), i) for i, r in enumerate(rows)]
    heapq.heapify(heap)
    chosen: list[int] = []
    remaining = int(need.sum())
    while remaining > 0 and heap:
        _, i = heapq.heappop(heap)
        gain = int((~covered[rows[i]]).sum())  # lazy re-evaluation: gains only shrink
        if gain == 0:
            continue
        if heap and gain < -heap[0][0]:
            heapq.heappush(heap, (-gain, i))
            continue
        chosen.append(i)
        covered[rows[i]] = True
        remaining -= gain
    return prune_redundant(sets, chosen, need)


def prune_redundant(sets: sparse.csr_matrix, chosen: list[int], need: np.ndarray) -> list[int]:
    """Drop chosen rows whose needed elements are all seen by other chosen rows (smallest rows first)."""
    count = np.zeros(sets.shape[1], dtype=np.int64)
    rows = {i: sets.indices[sets.indptr[i] : sets.indptr[i + 1]] for i in chosen}
    for r in rows.values():
        count[r] += 1
    keep = list(chosen)
    for i in sorted(chosen, key=lambda k: len(rows[k])):
        r = rows[i][need[rows[i]]]
        if np.all(count[r] >= 2):
            count[rows[i]] -= 1
            keep.remove(i)
    return keep


def _atoms(sets: sparse.csr_matrix, universe: np.ndarray) -> sparse.csr_matrix:
    """(A, S) matrix: one row per distinct group of coverable elements seen by the same sets."""
    csc = sparse.csc_matrix(sets, dtype=bool)
    need = np.flatnonzero(np.asarray(universe, dtype=bool) & (np.diff(csc.indptr) > 0))
    seen = {}
    for e in need:
        key = csc.indices[csc.indptr[e] : csc.indptr[e + 1]].tobytes()
        seen.setdefault(key, e)
    cols = [csc.indices[csc.indptr[e] : csc.indptr[e + 1]] for e in seen.values()]
    indptr = np.concatenate([[0], np.cumsum([len(c) for c in cols])])
    indices = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int32)
    return sparse.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(cols), sets.shape[0]))


def lp_lower_bound(
    sets: sparse.csr_matrix, universe: np.ndarray, time_limit: float | None = None
) -> int | None:
    """ceil of the LP relaxation optimum: no cover of the coverable elements uses fewer sets.

    None when the LP did not finish (within ``time_limit`` seconds, if given).
    """
    a = _atoms(sets, universe)
    if a.shape[0] == 0:
        return 0
    options = {} if time_limit is None else {"time_limit": float(time_limit)}
    res = linprog(
        np.ones(a.shape[1]),
        A_ub=-a,
        b_ub=-np.ones(a.shape[0]),
        bounds=(0, 1),
        method="highs",
        options=options,
    )
    return int(np.ceil(res.fun - 1e-6)) if res.status == 0 else None


def ilp_set_cover(
    sets: sparse.csr_matrix, universe: np.ndarray, time_limit: float = 20.0
) -> CoverSolution | None:
    """Exact minimum cover by integer programming; None when no feasible solution was found in time."""
    a = _atoms(sets, universe)
    n = sets.shape[0]
    if a.shape[0] == 0:
        return CoverSolution([], "ilp", True, 0)
    res = milp(
        c=np.ones(n),
        constraints=LinearConstraint(a, lb=np.ones(a.shape[0]), ub=np.inf),
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
        options={"time_limit": float(time_limit), "disp": False},
    )
    if res.x is None:
        return None
    chosen = [int(i) for i in np.flatnonzero(res.x > 0.5)]
    if res.status != 0:  # stopped at the time limit: the incumbent may carry redundant sets
        sets = sparse.csr_matrix(sets, dtype=bool)
        need = np.asarray(universe, dtype=bool) & (np.asarray(sets.sum(axis=0)).ravel() > 0)
        chosen = prune_redundant(sets, chosen, need)
    bound = getattr(res, "mip_dual_bound", None)
    lower = int(np.ceil(bound - 1e-6)) if bound is not None and np.isfinite(bound) else None
    return CoverSolution(chosen, "ilp", bool(res.status == 0), lower)
