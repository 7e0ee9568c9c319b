"""Is a scan-time target reachable at all? The scan-time lower bound over a much denser candidate set.

The planner's own bound (`scan_lower_bound_s`, `coverage.cover_bound`) holds for plans over *its*
candidates; a denser set can only lower it. This script judges ~50x more views on one blade (seed
groups at the planner's spacing and half of it, 162 and 642 direction bins, each head-on and tilted
20 and 40 deg at 6 azimuths, plus every pose of the strongest raster's settings grid), then prints
the set-cover bound (ILP), the any-cover moves bound, their scan-time bound, and the scan time of the
ILP cover in an optimised tour, each over the strongest raster:

    .venv/bin/python benchmarks/coverage_bound_dense.py [--size small] [--ilp-time 60]
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from platform_control.blade import blade_preset, generate_blade
from platform_control.coverage import CoveragePlanner, ScanTiming
from platform_control.coverage.budget import TimeBudget
from platform_control.coverage.candidates import direction_bins, grouped_views, tilted_views
from platform_control.coverage.cover_bound import cover_moves_lower_bound, scan_time_lower_bound
from platform_control.coverage.ordering import assign_rotary_turns, leg_times, move_times, order_viewpoints
from platform_control.coverage.planner import _Candidates
from platform_control.coverage.raster import raster_viewpoints
from platform_control.coverage.set_cover import ilp_set_cover
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.stage import StageKinematics


def dense_views(planner: CoveragePlanner, surface, stage) -> tuple[np.ndarray, np.ndarray]:
    """Focus points and view directions of the dense candidate set."""
    req = np.flatnonzero(surface.required)
    points, dirs = [], []
    for spacing, level in ((1.0, 2), (0.5, 3)):
        p, n = grouped_views(surface, req, spacing * planner.candidate_spacing, direction_bins(level))
        p, d = tilted_views(p, n, (20.0, 40.0), azimuths=6)
        points.append(p)
        dirs.append(d)
    for step in (30.0, 45.0, 60.0, 90.0):
        for k, tilt in (
            (0, 30.0),
            (3, 30.0),
            (3, 45.0),
            (3, 60.0),
            (4, 30.0),
            (4, 45.0),
            (4, 60.0),
            (6, 60.0),
        ):
            p, d = raster_viewpoints(
                surface,
                planner.camera,
                stage,
                azimuth_step_deg=step,
                tilt_deg=tilt,
                tilt_azimuths=k,
                margin=planner.element_size,
            )
            points.append(p)
            dirs.append(d)
    return np.vstack(points), np.vstack(dirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ilp-time", type=float, default=60.0)
    args = parser.parse_args()
    camera = load_camera_params()
    stage = StageKinematics(load_stage_params(), load_cell_layout(), camera)
    planner = CoveragePlanner(camera, stage, timing=ScanTiming(), time_budget=None)
    blade = generate_blade(blade_preset(args.size), seed=args.seed)
    raster = planner.strongest_raster_plan(blade)
    surface, evaluator, _ = planner._prepare(blade)
    points, dirs = dense_views(planner, surface, stage)
    cands = _Candidates([], [], [], [], Counter())
    planner._evaluate(evaluator, points, dirs, cands, "dense views", TimeBudget(None), 0.0)
    sets = cands.matrix(len(surface))
    need = surface.required & (np.asarray(sets.sum(axis=0)).ravel() > 0)
    axes = np.array(cands.axes)
    per_view = stage.params.settle_time + planner.timing.capture_time
    sol = ilp_set_cover(sets, need, args.ilp_time)
    moves_lb = cover_moves_lower_bound(
        sets, need, axes, planner.start_axes, stage, max_elements=8, max_members=2000
    )
    first_leg = float(move_times(planner.start_axes[None], axes, stage).min())  # home -> any view
    scan_lb = scan_time_lower_bound(int(sol.lower_bound or 0), per_view, moves_lb)
    order = order_viewpoints(axes[sol.chosen], planner.start_axes, stage)
    tour = assign_rotary_turns(axes[sol.chosen][order], planner.start_axes, stage)
    moves = float(leg_times(tour, planner.start_axes, stage).sum())
    r = raster.estimated_scan_time
    print(
        f"{args.size} blade: {len(points)} dense views, {len(cands.seen)} usable, "
        f"{need.sum()} elements coverable"
    )
    print(f"strongest raster: {len(raster)} views, {r:.2f} s (moves {raster.timing.moves:.2f} s)")
    print(
        f"views lower bound {sol.lower_bound} "
        f"(ILP {'optimal' if sol.optimal else 'time limit'}: {len(sol.chosen)})"
    )
    print(f"moves lower bound {moves_lb:.2f} s (of it the first leg, home to any view: >= {first_leg:.2f} s)")
    print(f"scan lower bound {scan_lb:.2f} s = {scan_lb / r:.3f} x raster (0.6 x raster = {0.6 * r:.2f} s)")
    sc = moves + per_view * len(sol.chosen)
    print(
        f"ILP cover in a tour: {len(sol.chosen)} views, moves {moves:.2f} s, "
        f"scan {sc:.2f} s = {sc / r:.3f} x raster"
    )


if __name__ == "__main__":
    main()
