"""Simulator benchmark: time of one multispectral capture (all channels) and of a full simulated
LOAD -> SCAN -> UNLOAD with the coverage planner's real plan.

    .venv/bin/python benchmarks/sim_render.py [--resolution 1024] [--preset small] [--captures 5]

Part 1 renders `--captures` viewpoints of the plan (each a new stage pose, so nothing is cached) and
splits the time into the MuJoCo geometry pass, the surface/defect appearance, shading of all channels
and the sensor model (noise, vignetting, defocus, quantisation). Part 2 runs the whole simulated cycle
in the deterministic mode through the simulated drivers: physics of every arm and stage move plus
every capture, and reports wall time next to the simulated (cell) time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
from rich.console import Console
from rich.table import Table

import platform_control.sim  # noqa: F401  (EGL back-end)
from platform_control.blade import blade_preset, generate_blade, label_mask
from platform_control.coverage import CoveragePlanner
from platform_control.sim.cell import SimCell
from platform_control.sim.optics import load_optics
from platform_control.sim.placement import BladeSurface, sample_defects
from platform_control.sim.render import SimBlade
from platform_control.sim.scan import SimulatedCellRun
from platform_control.stage import StageKinematics


def _blade(preset: str, seed: int) -> SimBlade:
    mesh = generate_blade(blade_preset(preset), seed=seed)
    surface = BladeSurface(mesh, label_mask(mesh, ["airfoil"]))
    return SimBlade(mesh, sample_defects(surface, np.random.default_rng(seed), (6, 6)), seed)


def bench_capture(blade: SimBlade, plan_axes: np.ndarray, resolution: int, captures: int) -> dict[str, float]:
    optics = load_optics().with_resolution(resolution, resolution)
    parts = {
        "geometry pass": 0.0,
        "appearance": 0.0,
        "shading (all channels)": 0.0,
        "sensor (all channels)": 0.0,
    }
    with SimCell(blade, optics=optics) as cell:
        cell.place_blade("fixture")
        renderer = cell.renderer()
        plan = renderer.plan
        picks = np.linspace(0, len(plan_axes) - 1, captures).round().astype(int)
        totals = []
        for i in picks:
            cell.set_stage_axes(plan_axes[i])
            t0 = time.perf_counter()
            geo = renderer.geometry_pass.render(cell.data)
            t1 = time.perf_counter()
            renderer.invalidate()
            scene = renderer.scene(cell.data)  # geometry again + appearance
            t2 = time.perf_counter()
            for s in plan.channels:
                renderer.radiance(scene, s.channel)
            t3 = time.perf_counter()
            rng = np.random.default_rng(int(i))
            for s in plan.channels:
                renderer.expose(scene, s.channel, s.exposure_ms, s.gain, rng)
            t4 = time.perf_counter()
            assert geo.depth.shape == (resolution, resolution)
            parts["geometry pass"] += t1 - t0
            parts["appearance"] += (t2 - t1) - (t1 - t0)
            parts["shading (all channels)"] += t3 - t2
            parts["sensor (all channels)"] += t4 - t3
            totals.append((t1 - t0) + (t4 - t2) + max((t2 - t1) - (t1 - t0), 0.0))
    out = {k: v / len(picks) for k, v in parts.items()}
    out["total per capture"] = float(np.mean(totals))
    out["captures"] = len(picks)
    return out


def bench_scan(blade: SimBlade, plan_axes: np.ndarray, resolution: int) -> dict[str, float]:
    optics = load_optics().with_resolution(resolution, resolution)
    out: dict[str, float] = {}
    with SimCell(blade, optics=optics) as cell:
        run = SimulatedCellRun(cell)
        wall0 = time.perf_counter()
        for step, action in (
            ("load", run.load),
            ("scan", lambda: run.scan(plan_axes)),
            ("unload", run.unload),
        ):
            t0, s0 = time.perf_counter(), cell.time
            action()
            out[f"{step} wall s"] = time.perf_counter() - t0
            out[f"{step} simulated s"] = cell.time - s0
        out["cycle wall s"] = time.perf_counter() - wall0
        out["cycle simulated s"] = cell.time
        out["blade back in tray"] = float(cell.blade_holder == "tray")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--captures", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-scan", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON too")
    args = parser.parse_args()
    console = Console()
    blade = _blade(args.preset, args.seed)
    t0 = time.perf_counter()
    with SimCell(None) as cell:
        stage = StageKinematics(cell.stage_params, cell.layout, cell.camera_params)
        plan = CoveragePlanner(cell.camera_params, stage).plan(blade.mesh)
    planning = time.perf_counter() - t0
    console.print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(shared: timings vary with load), MUJOCO_GL={os.environ.get('MUJOCO_GL')}"
    )
    console.print(
        f"blade '{args.preset}' ({len(blade.mesh.faces)} faces, {len(blade.defects)} defects); "
        f"{plan.summary().splitlines()[0]}; planned in {planning:.1f} s"
    )
    capture = bench_capture(blade, plan.axes, args.resolution, args.captures)
    table = Table(
        "stage",
        "seconds",
        title=f"one {args.resolution}x{args.resolution} capture, 6 channels "
        f"(mean of {capture['captures']} viewpoints)",
    )
    for key, value in capture.items():
        if key != "captures":
            table.add_row(key, f"{value:.3f}")
    console.print(table)
    results = {"capture": capture, "planning_s": planning, "viewpoints": len(plan)}
    if not args.skip_scan:
        scan = bench_scan(blade, plan.axes, args.resolution)
        table = Table("phase", "wall s", "simulated s", title=f"full simulated cycle, {len(plan)} viewpoints")
        for step in ("load", "scan", "unload", "cycle"):
            table.add_row(step, f"{scan[f'{step} wall s']:.2f}", f"{scan[f'{step} simulated s']:.2f}")
        console.print(table)
        console.print(f"blade back in the tray: {bool(scan['blade back in tray'])}")
        results["scan"] = scan
    if args.json:
        console.print_json(json.dumps(results))


if __name__ == "__main__":
    main()
