"""Simulator benchmark: time of one multispectral capture (all channels) per frame size, the new renderer
side by side with the frozen pre-issue-15 one, and a full simulated LOAD -> SCAN -> UNLOAD with the
coverage planner's real plan.

    .venv/bin/python benchmarks/sim_render.py [--binning 1 2 4 | --resolution 1024] [--captures 5]
        [--no-reference] [--skip-scan] [--preset small]

Part 1 renders `--captures` viewpoints of the plan (each a new stage pose, so nothing is cached) for
every frame size (`--binning`: the whole 2448 x 2048 sensor binned 1x, 2x, 4x; `--resolution`: the old
square frames) and splits the time of one capture into: the MuJoCo geometry pass; appearance (surface
texture, defects, masks and the defocus plan, built from that same geometry frame); shading of all
channels; the sensor model (defocus, noise, vignetting, quantisation) of all channels. The reference
renderer (`tests/sim/sim_reference_render.py`, the old code) renders the same viewpoints in the same
run, interleaved, so host load affects both alike; CPU seconds (all threads) are shown next to wall
seconds. Part 2 runs the whole simulated cycle in the deterministic mode through the simulated drivers
and reports wall time next to the simulated (cell) time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import platform_control.sim  # noqa: F401  (EGL back-end)
from platform_control.blade import blade_preset, generate_blade, label_mask
from platform_control.coverage import CoveragePlanner
from platform_control.params import load_camera_params
from platform_control.sim.cell import SimCell
from platform_control.sim.optics import OpticsConfig, load_optics
from platform_control.sim.placement import BladeSurface, sample_defects
from platform_control.sim.render import SimBlade
from platform_control.sim.scan import SimulatedCellRun
from platform_control.stage import StageKinematics

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "tests" / "sim"
PHASES = ("geometry pass", "appearance", "shading (all channels)", "sensor (all channels)")


def _blade(preset: str, seed: int) -> SimBlade:
    mesh = generate_blade(blade_preset(preset), seed=seed)
    surface = BladeSurface(mesh, label_mask(mesh, ["airfoil"]))
    return SimBlade(mesh, sample_defects(surface, np.random.default_rng(seed), (6, 6)), seed)


def _reference_renderer(cell: SimCell, current):
    sys.path.insert(0, str(REFERENCE_DIR))
    import sim_reference_render

    return sim_reference_render.MultispectralRenderer(
        cell.cell,
        cell.blade,
        cell.camera_params,
        cell.layout,
        cell.optics,
        geom_rgba=current.geometry_pass.geom_rgba,
    )


def _time_capture(renderer, data, rng: np.random.Generator, reference: bool) -> dict[str, float]:
    """Phase times of one capture; the geometry is rendered once and the appearance built from it."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    geo = renderer.geometry_pass.render(data)
    t1 = time.perf_counter()
    if reference:  # the old renderer's scene() renders its own geometry: hand it this frame instead
        renderer.invalidate()
        renderer.geometry_pass.render = lambda _data: geo
        try:
            scene = renderer.scene(data)
        finally:
            del renderer.geometry_pass.render
    else:
        scene = renderer.build_scene(data, geo)
    t2 = time.perf_counter()
    for s in renderer.plan.channels:
        renderer.radiance(scene, s.channel)
    t3 = time.perf_counter()
    for s in renderer.plan.channels:
        renderer.expose(scene, s.channel, s.exposure_ms, s.gain, rng)
    t4 = time.perf_counter()
    return {
        PHASES[0]: t1 - t0,
        PHASES[1]: t2 - t1,
        PHASES[2]: t3 - t2,
        PHASES[3]: t4 - t3,
        "total per capture": t4 - t0,
        "CPU s (all threads)": time.process_time() - cpu0,
    }


def bench_capture(
    blade: SimBlade, plan_axes: np.ndarray, optics: OpticsConfig, captures: int, reference: bool
) -> dict[str, dict[str, float]]:
    """Mean phase times per capture of the renderer ('new') and, if asked, the old one ('old')."""
    with SimCell(blade, optics=optics) as cell:
        cell.place_blade("fixture")
        renderers = {"new": cell.renderer()}
        if reference:
            renderers["old"] = _reference_renderer(cell, renderers["new"])
        picks = np.linspace(0, len(plan_axes) - 1, captures).round().astype(int)
        sums: dict[str, dict[str, float]] = {name: {} for name in renderers}
        try:
            for i in picks:
                cell.set_stage_axes(plan_axes[i])
                for name, renderer in renderers.items():
                    times = _time_capture(renderer, cell.data, np.random.default_rng(int(i)), name == "old")
                    for key, value in times.items():
                        sums[name][key] = sums[name].get(key, 0.0) + value
        finally:
            if "old" in renderers:
                renderers["old"].close()
        out = {name: {k: v / len(picks) for k, v in s.items()} for name, s in sums.items()}
        out["frame"] = {**renderers["new"].frame_metadata(), "captures": len(picks)}
    return out


def bench_scan(blade: SimBlade, plan_axes: np.ndarray, optics: OpticsConfig) -> dict[str, float]:
    out: dict[str, float] = {}
    with SimCell(blade, optics=optics) as cell:
        run = SimulatedCellRun(cell)
        wall0 = time.perf_counter()
        for step, action in (
            ("load", run.motion.load),
            ("scan", lambda: run.scan(plan_axes)),
            ("unload", lambda: run.motion.unload(reject=False)),
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
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument(
        "--binning", type=int, nargs="+", default=None, help="whole-sensor binnings (default: 1 2 4)"
    )
    sizes.add_argument("--resolution", type=int, nargs="+", default=None, help="square frame sizes")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--captures", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-reference", action="store_true", help="do not time the old renderer")
    parser.add_argument("--skip-scan", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON too")
    args = parser.parse_args()
    console = Console()
    camera = load_camera_params()
    base = load_optics()
    try:
        if args.resolution:
            frames = [(f"{r}x{r}", base.with_resolution(r, r)) for r in args.resolution]
        else:
            frames = [(f"binning {b}", base.with_binning(camera, b)) for b in args.binning or (1, 2, 4)]
    except ValueError as exc:
        parser.error(str(exc))
    blade = _blade(args.preset, args.seed)
    t0 = time.perf_counter()
    with SimCell(None) as cell:
        stage = StageKinematics(cell.stage_params, cell.layout, cell.camera_params)
        plan = CoveragePlanner(cell.camera_params, stage).plan(blade.mesh)
    planning = time.perf_counter() - t0
    console.print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(shared: timings vary with load; load average {os.getloadavg()[0]:.1f} at start), "
        f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}"
    )
    console.print(
        f"blade '{args.preset}' ({len(blade.mesh.faces)} faces, {len(blade.defects)} defects); "
        f"{plan.summary().splitlines()[0]}; planned in {planning:.1f} s"
    )
    results: dict[str, object] = {"planning_s": planning, "viewpoints": len(plan), "capture": {}}
    summary = Table("frame", "size", "um/pixel", "old s", "new s", "speed-up", title="one 6-channel capture")
    for label, optics in frames:
        capture = bench_capture(blade, plan.axes, optics, args.captures, not args.no_reference)
        frame = capture["frame"]
        size = f"{frame['width_px']}x{frame['height_px']}"
        table = Table(
            "phase",
            "new s",
            *(["old s", "speed-up"] if "old" in capture else []),
            title=f"{label}: one {size} capture, 6 channels (mean of {frame['captures']} viewpoints)",
        )
        for key in capture["new"]:
            row = [key, f"{capture['new'][key]:.3f}"]
            if "old" in capture:
                old = capture["old"][key]
                row += [f"{old:.3f}", f"{old / max(capture['new'][key], 1e-9):.1f}x"]
            table.add_row(*row)
        console.print(table)
        new_total = capture["new"]["total per capture"]
        old_total = capture["old"]["total per capture"] if "old" in capture else None
        summary.add_row(
            label,
            size,
            f"{frame['pixel_footprint_um']:.1f}",
            "-" if old_total is None else f"{old_total:.2f}",
            f"{new_total:.2f}",
            "-" if old_total is None else f"{old_total / new_total:.1f}x",
        )
        results["capture"][label] = capture
    console.print(summary)
    console.print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if not args.skip_scan:
        scan = bench_scan(blade, plan.axes, frames[0][1])
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
