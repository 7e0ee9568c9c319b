"""View selection that counts stage-move time, not only the number of views.

The set cover picks the fewest views; two covers of the same size can differ by seconds of stage
travel. Starting from the cover in tour order, each view is tried against every candidate that sees
everything only it sees: if putting that candidate at its cheapest place in the tour (and taking the
view out) shortens the scan, they swap; a view that sees nothing of its own is dropped. Each accepted
move lowers moves + views x (settle + capture), so the search ends; coverage never drops.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import sparse

from platform_control.coverage.ordering import move_times
from platform_control.stage import StageKinematics


def swap_for_travel(
    tour: list[int],
    sets: sparse.csr_matrix,
    need: np.ndarray,
    axes: np.ndarray,
    start: np.ndarray,
    stage: StageKinematics,
    deadline: float | None = None,
) -> list[int]:
    """Candidate indices (rows of ``sets``/``axes``) of a cover at least as good, in visiting order.

    ``tour``: the cover's candidates in visiting order; ``need``: (E,) elements that must stay seen.
    Swaps keep the number of views and drops lower it, so settle and capture time never grow.
    """
    csc = sparse.csc_matrix(sets, dtype=bool)
    csr = sparse.csr_matrix(sets, dtype=bool)
    path = list(tour)
    count = np.zeros(sets.shape[1], dtype=np.int64)
    for i in path:
        count[csr.indices[csr.indptr[i] : csr.indptr[i + 1]]] += 1
    improved = True
    while improved and (deadline is None or time.perf_counter() < deadline):
        improved = False
        pos = 0
        while pos < len(path):
            if deadline is not None and time.perf_counter() >= deadline:
                break
            i = path[pos]
            own = csr.indices[csr.indptr[i] : csr.indptr[i + 1]]
            unique = own[need[own] & (count[own] == 1)]
            nodes = np.vstack([start, axes[path]])  # node k + 1 is path[k]
            before, here = nodes[pos], nodes[pos + 1]
            after = nodes[pos + 2] if pos + 2 < len(nodes) else None
            gain = move_times(before[None], here[None], stage)[0, 0]
            if after is not None:
                gain += move_times(here[None], after[None], stage)[0, 0]
                gain -= move_times(before[None], after[None], stage)[0, 0]
            if len(unique) == 0:  # redundant: drop it
                count[own] -= 1
                del path[pos]
                improved = True
                continue
            # candidates that see every element only this view sees
            hits = np.asarray(csc[:, unique].sum(axis=1)).ravel()
            options = np.setdiff1d(np.flatnonzero(hits == len(unique)), path)
            if len(options):
                rest = np.delete(nodes, pos + 1, axis=0)
                into = move_times(rest, axes[options], stage)  # (R, J)
                leg = np.append(move_times(rest[:-1], rest[1:], stage).diagonal(), 0.0)
                out = np.vstack([move_times(axes[options], rest[1:], stage).T, np.zeros((1, len(options)))])
                insert = into + out - leg[:, None]  # inserting option j after rest[k]
                k, j = np.unravel_index(np.argmin(insert), insert.shape)
                if insert[k, j] < gain - 1e-9:
                    new = int(options[j])
                    count[own] -= 1
                    count[csr.indices[csr.indptr[new] : csr.indptr[new + 1]]] += 1
                    del path[pos]
                    path.insert(int(k), new)
                    improved = True
            pos += 1
    return path
