"""Coverage planner on generated blades and CAD-like versions of them, against the strongest raster.

Two tables:
1. Ray casters on the same rays (the occlusion rays of the planner's candidate views): Embree (the
   default) vs MuJoCo, microseconds per ray and agreement, on well-shaped and sliver-heavy meshes.
2. Plans: for each blade size, the generated blade and CAD-like versions of it (a two-section loft
   with span-long sliver triangles, the loft with open span ends, the loft with an internal sheet,
   the loft subdivided to ~20k / ~100k / ~400k faces). Columns: faces, area, p95 triangle aspect,
   plan time, views, set-cover lower bound, scan time split into stage moves and per-view time
   (settle + exposures), its tour's move time against the Held-Karp lower bound, the lower bound on
   the scan time of *any* plan over the planner's candidates (views bound x per-view time + a moves
   bound that holds for every cover, `coverage.cover_bound`) and that bound over the raster, the
   strongest-raster scan time (a tuned raster swept over its settings, on the generated blade of
   that size) with its own split, ratio, coverage of the visible surface, unseen area by reason.
   A target ratio below "LB/raster" cannot be met with these candidates, whatever the tour.

    .venv/bin/python benchmarks/coverage_plan.py [--sizes small medium large] [--short] [--plot DIR]
        [--fixture on|off|both]

``--fixture``: the blade fixture and the C table in the ray-cast scene (``on``, the planner's default),
left out (``off``: the planner sees through them, as before they were modelled), or ``both``, each
row planned both ways side by side. The strongest raster of a row is judged by a planner with the same
setting, so it faces the same occluder as the plan it is compared with.

``--short`` runs the small blade's variants plus the large blade's ~400k-face loft. Open and
Every mesh goes through the strict loader first (`validate_blade_mesh`, labels kept); one it refuses
(the open shell) is loaded with ``outer_surface=True`` and planned with ``outer_surface_only=True``,
as its message suggests. The "loader" column says what happened.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import numpy as np
import trimesh
from rich.console import Console
from rich.table import Table

from platform_control.blade import BladeMeshError, blade_preset, generate_blade, validate_blade_mesh
from platform_control.blade.cad_like import aspect_ratios, cad_like_blade
from platform_control.blade.spec import CLAMPED_LABELS
from platform_control.coverage import CoveragePlanner, ScanPlan, ScanTiming
from platform_control.coverage.candidates import grouped_views
from platform_control.coverage.picture import write_plan_report
from platform_control.coverage.surface import InspectionSurface
from platform_control.coverage.visibility import EmbreeRayCaster, MujocoRayCaster, ViewEvaluator
from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
from platform_control.stage import StageKinematics, StageLimitError

VARIANTS = (
    "generated",
    "loft",
    "loft open ends",
    "loft internal sheet",
    "loft 20k",
    "loft 100k",
    "loft 400k",
)


def make_variant(size: str, variant: str, seed: int) -> trimesh.Trimesh:
    spec = blade_preset(size)
    if variant == "generated":
        return generate_blade(spec, seed=seed)
    extra = {
        "loft": {},
        "loft open ends": {"open_ends": True},
        "loft internal sheet": {"internal_sheet": True},
        "loft 20k": {"target_faces": 20_000},
        "loft 100k": {"target_faces": 100_000},
        "loft 400k": {"target_faces": 400_000},
    }[variant]
    return cad_like_blade(spec, seed=seed, **extra)


def as_loaded(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, bool, str]:
    """(mesh, outer surface only?, what the loader did) as a plant would load it (labels kept).

    The strict loader first; if it refuses, the outer-surface load that its message suggests.
    """
    try:
        loaded = validate_blade_mesh(mesh, source="bench")
    except BladeMeshError as exc:
        return validate_blade_mesh(mesh, source="bench", outer_surface=True), True, f"refused: {exc.problem}"
    repairs = loaded.metadata["repairs"]
    return loaded, False, "; ".join(r.split(",")[0] for r in repairs) or "ok"


class _RecordingCaster:
    """Embree caster that keeps every ray it was asked about, to replay them on other casters."""

    def __init__(self, mesh: trimesh.Trimesh) -> None:
        self.inner = EmbreeRayCaster(mesh)
        self.eyes: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []

    def visible_rays(self, eyes: np.ndarray, targets: np.ndarray) -> np.ndarray:
        self.eyes.append(np.asarray(eyes))
        self.targets.append(np.asarray(targets))
        return self.inner.visible_rays(eyes, targets)

    def visible(self, eye: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return self.visible_rays(np.broadcast_to(eye, np.shape(targets)), targets)


def caster_row(mesh: trimesh.Trimesh, planner: CoveragePlanner, stage: StageKinematics) -> tuple:
    """(rays, embree us/ray, mujoco us/ray, agreement) on the rays of the candidate views."""
    surface = InspectionSurface.from_mesh(mesh, planner.element_size, CLAMPED_LABELS)
    rec = _RecordingCaster(mesh)
    evaluator = ViewEvaluator(surface, planner.camera, stage, rec)
    points, dirs = grouped_views(
        surface, np.flatnonzero(surface.required), planner.candidate_spacing, planner._bins
    )
    axes = []
    for p, d in zip(points, dirs, strict=True):
        with contextlib.suppress(StageLimitError):
            axes.append(stage.viewpoint_to_axes(p, d))
    evaluator.evaluate_many(axes)
    eyes, targets = np.vstack(rec.eyes), np.vstack(rec.targets)
    embree, mujoco = EmbreeRayCaster(mesh), MujocoRayCaster(mesh)
    t0 = time.perf_counter()
    a = embree.visible_rays(eyes, targets)
    t_embree = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = mujoco.visible_rays(eyes, targets)
    t_mujoco = time.perf_counter() - t0
    return len(eyes), 1e6 * t_embree / len(eyes), 1e6 * t_mujoco / len(eyes), float(np.mean(a == b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "medium", "large"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--short", action="store_true", help="small blade variants + large 400k loft")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channels", type=int, default=6, help="light channels captured per viewpoint")
    parser.add_argument("--capture-time", type=float, default=0.05, help="seconds per channel frame")
    parser.add_argument("--time-budget", type=float, default=60.0, help="planner time budget, s")
    parser.add_argument("--no-casters", action="store_true", help="skip the ray-caster table")
    parser.add_argument(
        "--tilted-seeds",
        type=float,
        nargs="*",
        default=None,
        help="seed tilt angles in degrees (default: the planner's, 40; none given: head-on seeds only)",
    )
    parser.add_argument("--plot", type=Path, help="write each plan's report and picture into this folder")
    parser.add_argument(
        "--fixture",
        choices=("on", "off", "both"),
        default="on",
        help="fixture and C table as occluders: on, off, or both side by side",
    )
    args = parser.parse_args()
    rows = [(s, v) for s in args.sizes for v in args.variants]
    if args.short:
        rows = [("small", v) for v in VARIANTS] + [("large", "loft 400k")]

    console = Console(width=400)
    camera = load_camera_params()
    stage = StageKinematics(load_stage_params(), load_cell_layout(), camera)
    timing = ScanTiming(n_channels=args.channels, capture_time_per_channel=args.capture_time)
    settings = {"on": (True,), "off": (False,), "both": (True, False)}[args.fixture]
    tilts = {} if args.tilted_seeds is None else {"seed_tilts_deg": tuple(args.tilted_seeds)}
    planners = {
        (outer_only, occluder): CoveragePlanner(
            camera,
            stage,
            timing=timing,
            time_budget=args.time_budget,
            outer_surface_only=outer_only,
            fixture_occluder=occluder,
            progress=True,
            **tilts,
        )
        for outer_only in (False, True)
        for occluder in settings
    }
    strict = planners[(False, settings[0])]

    if not args.no_casters:
        ctab = Table(title="Ray casters on the same rays (candidate views' occlusion rays)")
        for col in (
            "blade",
            "faces",
            "p95 aspect",
            "rays",
            "Embree µs/ray",
            "MuJoCo µs/ray",
            "speed-up",
            "agree %",
        ):
            ctab.add_column(col, justify="right")
        for size, variant in sorted({(s, v) for s, v in rows if v in ("generated", "loft", "loft 400k")}):
            mesh = make_variant(size, variant, args.seed)
            n, te, tm, agree = caster_row(mesh, strict, stage)
            ctab.add_row(
                f"{size} {variant}",
                str(len(mesh.faces)),
                f"{np.percentile(aspect_ratios(mesh), 95):.0f}",
                str(n),
                f"{te:.2f}",
                f"{tm:.2f}",
                f"{tm / te:.1f}x",
                f"{100 * agree:.2f}",
            )
        console.print(ctab)

    table = Table(
        title=f"Coverage plans (seed {args.seed}, {args.channels} channels x "
        f"{args.capture_time * 1e3:.0f} ms, settle {stage.params.settle_time * 1e3:.0f} ms, "
        f"budget {args.time_budget:.0f} s)"
    )
    for col in (
        "blade",
        "fixture",
        "loader",
        "faces",
        "area mm²",
        "p95 aspect",
        "plan s",
        "views",
        "lower bound",
        "views/LB",
        "scan s",
        "moves s",
        "per-view s",
        "moves LB s",
        "any-cover moves LB s",
        "scan LB s",
        "LB/raster",
        "strongest raster s (moves + per-view)",
        "ratio",
        "coverage %",
        "unseen mm²",
        "unseen by reason mm²",
        "stopped",
    ):
        table.add_column(col, justify="right")
    rasters: dict[tuple[str, bool], ScanPlan] = {}
    for size, variant in rows:
        spec = blade_preset(size)
        t0 = time.perf_counter()
        mesh, outer_only, loader = as_loaded(make_variant(size, variant, args.seed))
        load_time = time.perf_counter() - t0
        for occluder in settings:
            planner = planners[(outer_only, occluder)]
            t0 = time.perf_counter()
            plan = planner.plan(mesh)
            plan_time = time.perf_counter() - t0
            if (size, occluder) not in rasters:
                rasters[(size, occluder)] = planners[(False, occluder)].strongest_raster_plan(
                    generate_blade(spec, seed=args.seed)
                )
            raster = rasters[(size, occluder)]
            if args.plot:
                name = f"{size}_{variant.replace(' ', '_')}" + ("" if occluder else "_no_fixture")
                write_plan_report(plan, args.plot, name)
            table.add_row(
                *_plan_row(size, variant, occluder, loader, load_time, mesh, plan, plan_time, raster)
            )
        if len(settings) > 1:
            table.add_section()
    console.print(table)
    for (size, occluder), raster in rasters.items():
        st = raster.stats
        console.print(
            f"strongest raster, {size}, fixture {'on' if occluder else 'off'}: {len(raster)} views, "
            f"scan {raster.estimated_scan_time:.1f} s (moves {raster.timing.moves:.1f} s, settle "
            f"{raster.timing.settle:.1f} s, capture {raster.timing.capture:.1f} s), "
            f"coverage {100 * raster.coverage.coverage:.2f} %, "
            f"azimuth step {st['azimuth_step_deg']:.0f} deg, tilt {st['tilt_deg']:.0f} deg x "
            f"{st['tilt_azimuths']}, best of {st['settings_tried']} settings; unseen by reason: "
            f"{_by_reason(raster) or 'none'}"
        )


_SHORT_REASONS = {
    "hidden from outside": "hidden",
    "not evaluated (time budget)": "budget",
    "beyond stage limits": "limits",
    "camera collision": "collision",
    "occluded by the fixture": "fixture",
    "occluded or out of focus": "occl/focus",
}


def _by_reason(plan: ScanPlan) -> str:
    """Unseen mm² per gap reason, e.g. 'fixture 228.1, occl/focus 0.4'."""
    return ", ".join(
        f"{_SHORT_REASONS.get(reason, reason)} {area * 1e6:.1f}"
        for reason, area in plan.coverage.gap_area.items()
        if area > 0
    )


def _plan_row(
    size: str,
    variant: str,
    occluder: bool,
    loader: str,
    load_time: float,
    mesh: trimesh.Trimesh,
    plan: ScanPlan,
    plan_time: float,
    raster: ScanPlan,
) -> tuple[str, ...]:
    """One row of the plans table."""
    lb = plan.stats.get("lower_bound")
    scan_lb = plan.stats.get("scan_lower_bound_s")
    return (
        f"{size} {variant}",
        "on" if occluder else "off",
        f"{loader} ({load_time:.1f} s)",
        str(len(mesh.faces)),
        f"{mesh.area * 1e6:.0f}",
        f"{np.percentile(aspect_ratios(mesh), 95):.0f}",
        f"{plan_time:.1f}",
        str(len(plan)),
        str(lb),
        f"{len(plan) / lb:.2f}" if lb else "-",
        f"{plan.estimated_scan_time:.1f}",
        f"{plan.timing.moves:.1f}",
        f"{plan.timing.settle + plan.timing.capture:.1f}",
        f"{plan.stats.get('tour_lower_bound_s', float('nan')):.1f}",
        _num(plan.stats.get("cover_moves_lower_bound_s"), "{:.1f}"),
        _num(scan_lb, "{:.1f}"),
        _num(None if scan_lb is None else scan_lb / raster.estimated_scan_time, "{:.2f}"),
        f"{raster.estimated_scan_time:.1f} ({raster.timing.moves:.1f} + "
        f"{raster.timing.settle + raster.timing.capture:.1f})",
        f"{plan.estimated_scan_time / raster.estimated_scan_time:.2f}",
        f"{100 * plan.coverage.coverage:.2f}",
        f"{plan.coverage.uncovered_area * 1e6:.1f}",
        _by_reason(plan),
        plan.coverage.stopped or "",
    )


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


if __name__ == "__main__":
    main()
