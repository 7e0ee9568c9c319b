"""Visiting order of the viewpoints: an open tour from the start pose that minimises stage travel time.

Cost of a leg = the synchronised stage move time (`platform_control.trajectory.move_time`, all axes
start and stop together within their velocity/acceleration limits); the C table takes the shorter way
round. Nearest neighbour builds a tour, 2-opt (segment reversal) and or-opt (moving runs of up to three
stops) improve it until no move helps, and iterated local search (double-bridge kicks) escapes the
local optimum. Afterwards each C value is shifted by whole turns to the
representation nearest the previous stop that lies within the C travel, and the real scan time is
computed on those exact axis values.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from platform_control.stage import StageKinematics
from platform_control.trajectory import move_time

_ROTARY = 4  # index of the C axis


def _wrapped_goal(start: np.ndarray, goal: np.ndarray) -> np.ndarray:
    out = goal.copy()
    out[_ROTARY] = start[_ROTARY] + (goal[_ROTARY] - start[_ROTARY] + np.pi) % (2 * np.pi) - np.pi
    return out


def move_times(a: np.ndarray, b: np.ndarray, stage: StageKinematics, wrap: bool = True) -> np.ndarray:
    """(N, M) synchronised move times from each axis vector of ``a`` (N, 5) to each of ``b`` (M, 5):
    `platform_control.trajectory.move_time`'s profile, vectorised. ``wrap``: C the shorter way round
    (a tour's cost before turns are assigned); False: the exact axis values."""
    delta = np.asarray(b, dtype=float)[None, :, :] - np.asarray(a, dtype=float)[:, None, :]
    if wrap:
        delta[..., _ROTARY] = (delta[..., _ROTARY] + np.pi) % (2 * np.pi) - np.pi
    dist = np.abs(delta)
    moving = dist > 1e-12
    with np.errstate(divide="ignore"):
        sv = np.where(moving, stage.max_velocity / dist, np.inf).min(axis=2)
        sa = np.where(moving, stage.max_acceleration / dist, np.inf).min(axis=2)
    still = ~moving.any(axis=2)
    sv[still], sa[still] = 1.0, 1.0  # no move: any finite values, the time is set to 0 below
    out = np.where(sv * sv / sa <= 1.0, 1.0 / sv + sv / sa, 2.0 / np.sqrt(sa))
    out[still] = 0.0
    return out


def travel_time_matrix(axes: np.ndarray, stage: StageKinematics) -> np.ndarray:
    """(N, N) move times between axis vectors (N, 5), C taking the shorter way round."""
    out = move_times(axes, axes, stage)
    return np.minimum(out, out.T)  # equal up to rounding; exactly symmetric for the tour bound


def nearest_neighbour_tour(cost: np.ndarray, start: int = 0) -> list[int]:
    n = len(cost)
    tour = [start]
    free = np.ones(n, dtype=bool)
    free[start] = False
    for _ in range(n - 1):
        row = np.where(free, cost[tour[-1]], np.inf)
        nxt = int(np.argmin(row))
        tour.append(nxt)
        free[nxt] = False
    return tour


def path_cost(tour: list[int], cost: np.ndarray) -> float:
    return float(sum(cost[a, b] for a, b in itertools.pairwise(tour)))


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.perf_counter() >= deadline


def two_opt(tour: list[int], cost: np.ndarray, deadline: float | None = None) -> list[int]:
    """Reverse segments while that shortens the open path; the first node stays first.

    ``deadline`` (a `time.perf_counter()` value) ends the search after the pass that crosses it.
    """
    path = np.array(tour)
    n = len(path)
    improved = True
    while improved and not _past(deadline):
        improved = False
        for i in range(1, n - 1):
            j = np.arange(i + 1, n)
            before = cost[path[i - 1], path[i]] + np.where(
                j < n - 1, cost[path[j], path[np.minimum(j + 1, n - 1)]], 0
            )
            after = cost[path[i - 1], path[j]] + np.where(
                j < n - 1, cost[path[i], path[np.minimum(j + 1, n - 1)]], 0
            )
            gain = before - after
            k = int(np.argmax(gain))
            if gain[k] > 1e-9:
                path[i : j[k] + 1] = path[i : j[k] + 1][::-1].copy()
                improved = True
    return path.tolist()


def or_opt(tour: list[int], cost: np.ndarray, max_run: int = 3, deadline: float | None = None) -> list[int]:
    """Move runs of 1..max_run consecutive stops elsewhere (either direction) while that helps."""
    path = list(tour)
    n = len(path)
    improved = True
    while improved and not _past(deadline):
        improved = False
        for run in range(1, max_run + 1):
            i = 1
            while i + run <= n:
                seg = path[i : i + run]
                prev = path[i - 1]
                nxt = path[i + run] if i + run < n else None
                removed = cost[prev, seg[0]]
                if nxt is not None:
                    removed += cost[seg[-1], nxt] - cost[prev, nxt]
                rest = np.array(path[:i] + path[i + run :])
                a, b = rest, np.append(rest[1:], -1)
                has_b = b >= 0
                bb = np.where(has_b, b, 0)
                best_gain, best = 1e-9, None
                for first, last, order in ((seg[0], seg[-1], 1), (seg[-1], seg[0], -1)):
                    added = cost[a, first] + np.where(has_b, cost[last, bb] - cost[a, bb], 0.0)
                    k = int(np.argmin(added))
                    if removed - added[k] > best_gain:
                        best_gain, best = removed - added[k], (k, order)
                if best is not None:
                    k, order = best
                    rest_list = rest.tolist()
                    path = rest_list[: k + 1] + seg[::order] + rest_list[k + 1 :]
                    improved = True
                i += 1
    return path


def order_viewpoints(
    axes: np.ndarray,
    start: np.ndarray,
    stage: StageKinematics,
    deadline: float | None = None,
    cost: np.ndarray | None = None,
    initial: list[int] | None = None,
    kicks: int = 40,
) -> list[int]:
    """Visiting order (indices into ``axes``) of a short stage tour that begins at ``start``.

    Past ``deadline`` (a `time.perf_counter()` value) the best tour so far is returned. ``cost``: the
    `travel_time_matrix` of start + axes, when the caller has it already. ``initial``: an order to
    improve as well as the nearest-neighbour tour; the shorter result wins. ``kicks``: rounds of
    iterated local search (double-bridge perturbation + 2-opt/or-opt) on the winner.
    """
    if len(axes) == 0:
        return []
    if cost is None:
        cost = travel_time_matrix(np.vstack([start, axes]), stage)
    starts = [nearest_neighbour_tour(cost, 0)]
    if initial is not None:
        if sorted(initial) != list(range(len(axes))):
            raise ValueError("initial must be a permutation of the viewpoint indices")
        starts.append([0, *[i + 1 for i in initial]])
    tours = [_improve(t, cost, deadline) for t in starts]
    tour = min(tours, key=lambda t: path_cost(t, cost))
    tour = _kick_and_improve(tour, cost, kicks, deadline)
    return [i - 1 for i in tour[1:]]


def _kick_and_improve(tour: list[int], cost: np.ndarray, kicks: int, deadline: float | None) -> list[int]:
    """Iterated local search: a double-bridge move (three segments swapped, which 2-opt and or-opt
    cannot undo in one step), then local search; kept when shorter. Seeded, so plans repeat."""
    n = len(tour)
    if n < 5:
        return tour
    rng = np.random.default_rng(0)
    best, best_cost = tour, path_cost(tour, cost)
    for _ in range(kicks):
        if _past(deadline):
            break
        a, b, c = np.sort(rng.choice(np.arange(1, n), size=3, replace=False))
        trial = _improve(best[:a] + best[b:c] + best[a:b] + best[c:], cost, deadline)
        trial_cost = path_cost(trial, cost)
        if trial_cost < best_cost - 1e-9:
            best, best_cost = trial, trial_cost
    return best


def _improve(tour: list[int], cost: np.ndarray, deadline: float | None) -> list[int]:
    """2-opt then or-opt, repeated while the path gets shorter (or until ``deadline``)."""
    best = path_cost(tour, cost)
    while not _past(deadline):
        tour = or_opt(two_opt(tour, cost, deadline), cost, deadline=deadline)
        now = path_cost(tour, cost)
        if now >= best - 1e-9:
            break
        best = now
    return tour


def assign_rotary_turns(axes: np.ndarray, start: np.ndarray, stage: StageKinematics) -> np.ndarray:
    """Copy of ``axes`` (N, 5), each C shifted by whole turns within the C travel so that the whole
    tour's stage time (exact axis values, no wrapping) is least: a shortest path over the turn choices.

    Greedy "nearest to the previous" can wind the table into its end stop and pay a full unwinding
    turn later; looking at the whole tour avoids that.
    """
    out = np.array(axes, dtype=float, copy=True)
    if len(out) == 0:
        return out
    lo, hi = stage.limits[_ROTARY]
    options = []
    for row in out:
        c = row[_ROTARY] + 2 * np.pi * np.arange(-3, 4)
        c = c[(c >= lo - 1e-12) & (c <= hi + 1e-12)]
        options.append(c if len(c) else np.array([row[_ROTARY]]))
    prev = np.asarray(start, dtype=float)[None, :]
    total = np.zeros(1)
    back = []
    for row, c in zip(out, options, strict=True):
        here = np.repeat(row[None, :], len(c), axis=0)
        here[:, _ROTARY] = c
        step = total[:, None] + move_times(prev, here, stage, wrap=False)  # (previous choice, this choice)
        back.append(np.argmin(step, axis=0))
        total = step.min(axis=0)
        prev = here
    k = int(np.argmin(total))
    for i in range(len(out) - 1, -1, -1):
        out[i, _ROTARY] = options[i][k]
        k = int(back[i][k])
    return out


def leg_times(axes: np.ndarray, start: np.ndarray, stage: StageKinematics) -> np.ndarray:
    """Move time (s) of every leg start -> axes[0] -> ... -> axes[-1], on the exact axis values."""
    times = []
    prev = np.asarray(start, dtype=float)
    for row in axes:
        times.append(move_time(prev, row, stage.max_velocity, stage.max_acceleration))
        prev = row
    return np.array(times)
