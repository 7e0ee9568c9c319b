"""Coverage planner vs naive raster scan on generated blades of three sizes.

For each preset blade: area coverage (required surface, clamped root faces excluded), viewpoints,
estimated scan time (stage moves + settle + one frame per light channel), and the same for the
serpentine raster baseline judged by the same camera criterion; ratio = planned / raster scan time.

    .venv/bin/python benchmarks/coverage_plan.py [--sizes small medium large] [--seed 0] [--plot DIR]

"lower bound" is the set-cover lower bound over the generated candidate views (ILP dual bound or LP
relaxation): equal to "viewpoints" when the cover is provably minimal for those candidates.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from platform_control.blade import blade_preset, generate_blade
from platform_control.coverage import CoveragePlanner, ScanPlan, ScanTiming
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.stage import StageKinematics


def plot_plan(plan: ScanPlan, title: str, path: Path) -> None:
    """Surface elements coloured by how many views image them (red: none) and the numbered views."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    surface = plan.surface
    count = np.zeros(len(surface), dtype=int)
    for vp in plan.viewpoints:
        count[vp.elements] += 1
    req = surface.required
    fig = plt.figure(figsize=(11, 6))
    for k, (elev, azim) in enumerate(((20, -60), (20, 120))):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d")
        c = surface.centers[req] * 1e3
        colours = np.where(count[req] == 0, -1, np.minimum(count[req], 4))
        ax.scatter(c[:, 0], c[:, 1], c[:, 2], c=colours, cmap="RdYlGn", vmin=-1, vmax=4, s=1)
        for i, vp in enumerate(plan.viewpoints):
            p, d = vp.point * 1e3, vp.view_direction * 15
            ax.quiver(p[0], p[1], p[2], d[0], d[1], d[2], color="tab:blue", linewidth=0.8)
            ax.text(*(p + d), str(i + 1), fontsize=6, color="tab:blue")
        span = (surface.centers.max(axis=0) - surface.centers.min(axis=0)).max() * 1e3 / 2 + 15
        mid = surface.centers.mean(axis=0) * 1e3
        ax.set(
            xlim=(mid[0] - span, mid[0] + span),
            ylim=(mid[1] - span, mid[1] + span),
            zlim=(mid[2] - span, mid[2] + span),
            xlabel="x mm",
            ylabel="y mm",
            zlabel="z mm",
        )
        ax.view_init(elev, azim)
    fig.suptitle(
        f"{title}: {len(plan)} views, coverage {100 * plan.coverage.coverage:.2f} % "
        "(green: seen by more views, red: unseen)"
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channels", type=int, default=6, help="light channels captured per viewpoint")
    parser.add_argument("--capture-time", type=float, default=0.05, help="seconds per channel frame")
    parser.add_argument("--solver", default="auto", choices=["auto", "greedy", "ilp"])
    parser.add_argument("--ray-backend", default="mujoco", choices=["mujoco", "trimesh"])
    parser.add_argument("--details", action="store_true", help="print each plan's coverage report")
    parser.add_argument("--plot", type=Path, help="write a coverage figure per blade into this folder")
    args = parser.parse_args()

    console = Console(width=170)
    camera = load_camera_params()
    stage = StageKinematics(load_stage_params(), load_cell_layout(), camera)
    timing = ScanTiming(n_channels=args.channels, capture_time_per_channel=args.capture_time)
    planner = CoveragePlanner(
        camera, stage, timing=timing, solver=args.solver, ray_backend=args.ray_backend, progress=True
    )
    table = Table(
        title=f"Coverage plan vs raster (seed {args.seed}, {args.channels} channels x "
        f"{args.capture_time * 1e3:.0f} ms, settle {stage.params.settle_time * 1e3:.0f} ms)"
    )
    for col in (
        "blade",
        "span mm",
        "required mm²",
        "coverage %",
        "viewpoints",
        "lower bound",
        "scan s",
        "raster coverage %",
        "raster views",
        "raster scan s",
        "ratio",
        "plan time s",
    ):
        table.add_column(col, justify="right")
    for size in args.sizes:
        spec = blade_preset(size)
        mesh = generate_blade(spec, seed=args.seed)
        t0 = time.perf_counter()
        plan = planner.plan(mesh)
        plan_time = time.perf_counter() - t0
        raster = planner.raster_plan(mesh)
        if args.plot:
            args.plot.mkdir(parents=True, exist_ok=True)
            plot_plan(plan, f"{size} blade", args.plot / f"coverage_{size}.png")
        if args.details:
            console.print(f"[bold]{size}[/bold]\n{plan.summary()}\n{raster.summary()}")
        table.add_row(
            size,
            f"{spec.span * 1e3:.0f}",
            f"{plan.coverage.required_area * 1e6:.0f}",
            f"{100 * plan.coverage.coverage:.2f}",
            str(len(plan)),
            str(plan.stats.get("lower_bound")),
            f"{plan.estimated_scan_time:.1f}",
            f"{100 * raster.coverage.coverage:.2f}",
            str(len(raster)),
            f"{raster.estimated_scan_time:.1f}",
            f"{plan.estimated_scan_time / raster.estimated_scan_time:.2f}",
            f"{plan_time:.1f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
