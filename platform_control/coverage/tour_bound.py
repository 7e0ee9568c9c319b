"""Lower bound on the stage travel time of any tour through the chosen views (Held-Karp 1-tree style).

The scan is an open path from the start pose through every view. Any such path is a spanning tree
in which the start has degree 1 and every other node degree <= 2, so for any penalties pi >= 0

    L(pi) = MST(c_ij + pi_i + pi_j) - 2 * sum_{i != s} pi_i - pi_s

is a lower bound (the path's own degrees make the penalty terms <= 0). Subgradient steps on pi push
the minimum spanning tree towards a path and the bound up (Held & Karp, 1971). The gap between the
tour found and this bound says how much a better tour could still save.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import minimum_spanning_tree


def _mst(cost: np.ndarray) -> tuple[float, np.ndarray]:
    """(weight, degree of every node) of a minimum spanning tree of the dense symmetric ``cost``."""
    n = len(cost)
    # csgraph treats 0 as "no edge": shift every weight by a constant, which keeps the same MST
    shift = 1.0 - float(cost.min())
    tree = minimum_spanning_tree(cost + shift - np.diag(np.full(n, shift))).tocoo()
    degree = np.bincount(tree.row, minlength=n) + np.bincount(tree.col, minlength=n)
    return float(tree.data.sum() - shift * (n - 1)), degree


def path_lower_bound(cost: np.ndarray, start: int = 0, iterations: int = 200) -> float:
    """Lower bound on the cost of any open path that starts at ``start`` and visits every node.

    ``cost``: symmetric (N, N) matrix of non-negative travel times; N = 1 gives 0.
    """
    cost = np.asarray(cost, dtype=float)
    n = len(cost)
    if cost.shape != (n, n) or not np.allclose(cost, cost.T):
        raise ValueError("path_lower_bound needs a square symmetric cost matrix")
    if n <= 1:
        return 0.0
    target = np.full(n, 2.0)
    target[start] = 1.0
    pi = np.zeros(n)
    best, _ = _mst(cost)
    step = 0.05 * float(np.mean(cost[np.triu_indices(n, 1)]))
    for _ in range(iterations):
        weight, degree = _mst(cost + pi[:, None] + pi[None, :])
        bound = weight - float(np.dot(pi, target))
        best = max(best, bound)
        grad = degree - target
        if not np.any(grad > 0):  # the tree is a path with the start at one end: optimal
            break
        pi = np.maximum(0.0, pi + step * grad)
        step *= 0.98
    return best
