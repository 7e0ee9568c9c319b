"""Full-coverage scan planning: candidates -> visibility -> set cover -> tour -> stage axes.

`CoveragePlanner.plan(mesh)` returns a `ScanPlan` whose viewpoints, in visiting order, carry the stage
axis values that put each focus point on the camera's focus point. The same evaluator (footprint,
depth of field, incidence, ray-cast occlusion, camera collision) judges the planner's views and the
naive raster baseline (`raster_plan`), so their coverage and times compare like for like. The blade
fixture and the C table (`coverage.fixture`, from the stage description) stand in the ray-cast scene
and in the collision check as occluders, not as surface to cover (``fixture_occluder``).

Bounded: a run keeps to ``time_budget`` (default 60 s). Candidate views are judged in chunks (their
rays in one ray-caster call per chunk) until the budget, less a reserve for the set cover (ILP and LP
get time limits), the tour (a deadline) and the report, runs out; the plan is then made from the
views judged so far, and its report says so and splits the unseen area by reason (`GAP_REASONS`).
Only building the surface elements and the BVH cannot be cut short (~1 s per 200k faces on one
core), so budgets below a few seconds can be overrun by that much. Every phase shows progress.

Size: ~620 lines, one class, because its phases share one time budget, one candidate set and one ray
caster; the pieces with a job of their own (candidates, set cover, tour, swaps, gap reasons, report)
are modules beside it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import trimesh
from scipy import sparse
from tqdm.auto import tqdm

from platform_control.blade.spec import CLAMPED_LABELS
from platform_control.camera import PinholeCamera
from platform_control.coverage.budget import TimeBudget
from platform_control.coverage.candidates import direction_bins, grouped_views, tilted_views
from platform_control.coverage.cover_bound import cover_moves_lower_bound, scan_time_lower_bound
from platform_control.coverage.exposure import exposed_elements
from platform_control.coverage.fixture import fixture_mesh, fixture_probe
from platform_control.coverage.gaps import gap_reasons
from platform_control.coverage.ordering import (
    assign_rotary_turns,
    leg_times,
    order_viewpoints,
    path_cost,
    travel_time_matrix,
)
from platform_control.coverage.plan import ScanPlan, ScanTimeEstimate, ScanTiming, Viewpoint
from platform_control.coverage.raster import raster_viewpoints
from platform_control.coverage.report import CoverageReport, coverage_report
from platform_control.coverage.set_cover import (
    greedy_set_cover,
    ilp_set_cover,
    lp_lower_bound,
    prune_redundant,
)
from platform_control.coverage.surface import InspectionSurface
from platform_control.coverage.tour_bound import path_lower_bound
from platform_control.coverage.view_swap import swap_for_travel
from platform_control.coverage.visibility import (
    RAY_BACKENDS,
    OccludedRayCaster,
    RayCaster,
    ViewEvaluator,
    make_ray_caster,
)
from platform_control.params import CameraParams
from platform_control.stage import StageKinematics, StageLimitError


class IncompleteCoverageError(RuntimeError):
    """Raised by ``plan(..., strict=True)`` when the target coverage cannot be reached; carries the plan."""

    def __init__(self, plan: ScanPlan) -> None:
        super().__init__(f"scan plan misses the coverage target:\n{plan.coverage.summary()}")
        self.plan = plan


@dataclass
class _Candidates:
    points: list[np.ndarray]
    directions: list[np.ndarray]
    axes: list[np.ndarray]
    seen: list[np.ndarray]
    rejected: Counter
    # views that were never usable: (focus point, direction, reason); reason 'time budget' = not judged
    dropped: list[tuple[np.ndarray, np.ndarray, str]] = field(default_factory=list)
    # per judged view, the elements it would image but for the fixture in the line of sight
    occluder_blocked: list[np.ndarray] = field(default_factory=list)

    def matrix(self, n_elements: int) -> sparse.csr_matrix:
        indptr = np.concatenate([[0], np.cumsum([len(s) for s in self.seen])])
        indices = np.concatenate(self.seen) if self.seen else np.zeros(0, dtype=np.int64)
        data = np.ones(len(indices), dtype=bool)
        return sparse.csr_matrix((data, indices, indptr), shape=(len(self.seen), n_elements))

    def union(self, n_elements: int) -> np.ndarray:
        out = np.zeros(n_elements, dtype=bool)
        for s in self.seen:
            out[s] = True
        return out

    def blocked_by_occluder(self, n_elements: int) -> np.ndarray:
        out = np.zeros(n_elements, dtype=bool)
        for s in self.occluder_blocked:
            out[s] = True
        return out


def _complete_cover(sets: sparse.csr_matrix, required: np.ndarray, chosen: list[int]) -> list[int]:
    """``chosen`` plus greedy views for the coverable required elements it misses, redundant ones
    dropped: a cover of what ``sets`` can cover."""
    sets = sparse.csr_matrix(sets, dtype=bool)
    need = np.asarray(required, dtype=bool) & (np.asarray(sets.sum(axis=0)).ravel() > 0)
    seen = np.zeros(sets.shape[1], dtype=bool)
    for i in chosen:
        seen[sets.indices[sets.indptr[i] : sets.indptr[i + 1]]] = True
    extra = greedy_set_cover(sets, need & ~seen) if (need & ~seen).any() else []
    return prune_redundant(sets, list(dict.fromkeys([*chosen, *extra])), need)


class CoveragePlanner:
    """Plans a scan of a blade that sees its whole required surface, in a short stage tour.

    Args:
        camera: the inspection camera (intrinsics, working distance, depth of field, incidence, overlap).
        stage: stage kinematics (limits, speeds, geometry relative to the camera).
        timing: settle and per-channel capture time per viewpoint.
        target_coverage: fraction of the required area a complete plan must see.
        element_size: coverage is measured on surface elements about this size (m), sampled by area
            (default: 1/24 of the smaller usable field-of-view side, so the element count follows
            the area and the camera footprint, not the mesh density).
        candidate_spacing: size of the position cells that seed candidate views (default: a quarter
            of the smaller usable field-of-view side).
        solver: 'greedy', 'ilp' or 'auto' (ILP when the instance is small, greedy otherwise; the
            result with fewer views wins).
        ray_backend: 'embree' (BVH, default), 'mujoco' or 'trimesh' (slow references).
        time_budget: seconds a `plan` may take in all (None: unbounded); on expiry the best plan so far
            is returned with ``coverage.stopped`` set.
        outer_surface_only: plan only the surface seen from outside (ray-tested); inner faces
            (internal sheets, enclosed shells) are left out and their area reported.
        travel_aware: after the set cover, swap views for candidates that see the same unique
            elements but shorten the stage tour, and drop views left redundant (`swap_for_travel`).
        clamped_labels: face labels held in the fixture, excluded from coverage.
        fixture_occluder: put the fixture clamp and the C table (shapes from the stage description)
            into the ray-cast scene and the camera collision check; off, the planner sees through them
            (the behaviour before they were modelled; kept to compare).
        start_axes: stage pose the scan starts from (default: all axes at 0, clipped into range).
        refine_rounds: rounds of targeted, tilted candidates for elements nothing sees yet.
        seed_tilts_deg: besides each head-on seed view, views of the same point tilted by these angles
            (at ``seed_azimuths`` azimuths): a tilted view sees a face and the next one round an edge,
            so covers need fewer views (small blade: 13 -> 10). Judged after the refinement and
            only while the budget allows and the candidates stay within ``ilp_max_candidates`` (so the
            ILP over all of them still runs and bounds the views); what is left unjudged is no gap,
            only fewer choices. ``()`` plans head-on seeds only. (Opt-in for a while: with tilted
            views the frames' framing varies more between views, and the model-life input trigger,
            then the relative change of per-channel means, read normal simulated blades as shifted by
            19 %; it now judges the shift in training sd: 0.11 for them, 0.23-0.39 for shifted ones.)
        seed_azimuths: azimuths of the tilted seed views.
        progress: show progress bars.
    """

    def __init__(
        self,
        camera: CameraParams,
        stage: StageKinematics,
        *,
        timing: ScanTiming | None = None,
        target_coverage: float = 0.99,
        element_size: float | None = None,
        candidate_spacing: float | None = None,
        solver: str = "auto",
        ilp_max_candidates: int = 3000,
        ilp_time_limit: float = 15.0,
        ray_backend: str = "embree",
        time_budget: float | None = 60.0,
        outer_surface_only: bool = False,
        travel_aware: bool = True,
        chunk_views: int = 32,
        clamped_labels: tuple[str, ...] = CLAMPED_LABELS,
        fixture_occluder: bool = True,
        start_axes: np.ndarray | None = None,
        refine_rounds: int = 2,
        seed_tilts_deg: tuple[float, ...] = (40.0,),
        seed_azimuths: int = 6,
        progress: bool = False,
    ) -> None:
        if ray_backend not in RAY_BACKENDS:
            raise ValueError(f"unknown ray-casting backend '{ray_backend}'; use one of {RAY_BACKENDS}")
        if solver not in {"greedy", "ilp", "auto"}:
            raise ValueError(f"solver must be 'greedy', 'ilp' or 'auto', got '{solver}'")
        if not 0 < target_coverage <= 1:
            raise ValueError(f"target_coverage must be in (0, 1], got {target_coverage}")
        self.camera = PinholeCamera(camera)
        self.stage = stage
        self.timing = timing or ScanTiming()
        self.target_coverage = target_coverage
        usable = min(self.camera.usable_field_of_view())
        self.element_size = element_size if element_size is not None else usable / 24
        if self.element_size <= 0:
            raise ValueError(f"element_size must be positive, got {element_size}")
        if time_budget is not None and not time_budget > 0:
            raise ValueError(f"time_budget must be positive seconds or None, got {time_budget}")
        if chunk_views < 1:
            raise ValueError(f"chunk_views must be >= 1, got {chunk_views}")
        self.time_budget = time_budget
        self.outer_surface_only = outer_surface_only
        self.chunk_views = chunk_views
        self.travel_aware = travel_aware
        self.candidate_spacing = candidate_spacing or 0.3 * usable
        self.solver = solver
        self.ilp_max_candidates = ilp_max_candidates
        self.ilp_time_limit = ilp_time_limit
        self.ray_backend = ray_backend
        self.clamped_labels = tuple(clamped_labels)
        self.fixture_occluder = fixture_occluder
        home = np.zeros(5) if start_axes is None else np.asarray(start_axes, dtype=float)
        self.start_axes = np.clip(home, stage.limits[:, 0], stage.limits[:, 1])
        self.refine_rounds = refine_rounds
        self.seed_tilts_deg = tuple(seed_tilts_deg)
        self.seed_azimuths = seed_azimuths
        self.progress = progress
        self._bins = direction_bins(2)

    # ------------------------------------------------------------------ public
    def plan(self, mesh: trimesh.Trimesh, *, strict: bool = False) -> ScanPlan:
        """Viewpoints that cover the blade, in visiting order. ``strict`` raises if coverage < target.

        Ends within ``time_budget``; a plan cut short or short of the target says where and why.
        """
        budget = TimeBudget(self.time_budget)
        reserve = self._reserve()
        phases = tqdm(total=6, desc="coverage plan", unit="phase", disable=not self.progress, leave=False)
        phases.set_postfix_str("surface elements")
        surface, evaluator, caster = self._prepare(mesh)
        phases.update()
        cands = _Candidates([], [], [], [], Counter())
        required = np.flatnonzero(surface.required)
        points, dirs = grouped_views(surface, required, self.candidate_spacing, self._bins)
        phases.set_postfix_str("candidate views")
        self._evaluate(evaluator, points, dirs, cands, "candidate views", budget, reserve)
        seeds, seed_dirs = points, dirs
        phases.update()
        tilts = np.array([[0.35, 0.7], [0.55, 0.9]]) * np.rad2deg(self.camera.max_incidence)
        phases.set_postfix_str("refinement")
        for rnd in range(self.refine_rounds):
            missing = np.flatnonzero(surface.required & ~cands.union(len(surface)))
            if len(missing) == 0 or budget.expired(reserve):
                break
            pts, nrm = grouped_views(surface, missing, 0.5 * self.candidate_spacing, self._bins)
            pts, dirs = tilted_views(pts, nrm, tuple(tilts[min(rnd, len(tilts) - 1)]), azimuths=6)
            self._evaluate(evaluator, pts, dirs, cands, f"refinement {rnd + 1}", budget, reserve)
        # after refinement, so the head-on and refinement candidates are what they were without them
        base_rows = len(cands.seen)
        if self.seed_tilts_deg and self.seed_azimuths > 0 and len(seeds):
            pts, tdirs = tilted_views(seeds, seed_dirs, self.seed_tilts_deg, self.seed_azimuths)
            # a fixed shuffle, so that a cut (budget, size) leaves an even sample of the surface
            pick = len(seeds) + np.random.default_rng(0).permutation(len(pts) - len(seeds))
            keep = reserve + 0.25 * budget.left  # and time for the second set-cover ILP
            lo = 0
            while lo < len(pick) and len(cands.seen) < self.ilp_max_candidates and not budget.expired(keep):
                take = pick[lo : lo + self.ilp_max_candidates - len(cands.seen)]  # the ILP's size limit
                self._evaluate(
                    evaluator, pts[take], tdirs[take], cands, "tilted views", budget, keep, optional=True
                )
                lo += len(take)
        tilted = slice(base_rows, len(cands.seen))
        phases.update()
        phases.set_postfix_str("set cover")
        sets = cands.matrix(len(surface))
        base = np.ones(len(cands.seen), dtype=bool)
        base[tilted] = False
        chosen, stats = self._solve(sets, surface.required, budget, base)
        stats.update(candidates=len(cands.seen), elements=len(surface), faces=len(mesh.faces))
        phases.update()
        phases.set_postfix_str("tour")
        stopped = "time budget" if any(r == "time budget" for *_, r in cands.dropped) else None
        plan = self._assemble(
            surface,
            cands,
            chosen,
            "coverage",
            stats,
            reorder=True,
            budget=budget,
            caster=caster,
            stopped=stopped,
            swap=self.travel_aware,
        )
        phases.update(2)
        phases.close()
        self._scan_bound(plan, sets, surface.required, cands, budget)
        plan.stats["planning_time_s"] = round(budget.elapsed, 3)
        plan.stats["time_budget_s"] = self.time_budget
        plan.stats["fixture_occluder"] = self.fixture_occluder
        if strict and not plan.coverage.complete:
            raise IncompleteCoverageError(plan)
        return plan

    def raster_plan(
        self,
        mesh: trimesh.Trimesh,
        *,
        azimuth_step_deg: float = 30.0,
        tilt_deg: float = 45.0,
        tilt_azimuths: int = 4,
        tuned: bool = False,
    ) -> ScanPlan:
        """The naive baseline: a serpentine raster of the usable field of view and depth of field
        around the blade from evenly spaced directions, visiting grid cells that contain surface.

        ``tuned``: the raster a careful engineer sets up on this camera: frames that add nothing to
        the others dropped, and the rest visited in the planner's optimised tour order.
        """
        t0 = time.perf_counter()
        prepared = self._prepare(mesh)
        plan = self._raster(prepared, azimuth_step_deg, tilt_deg, tilt_azimuths, tuned)
        plan.stats["planning_time_s"] = round(time.perf_counter() - t0, 3)
        return plan

    def strongest_raster_plan(
        self,
        mesh: trimesh.Trimesh,
        *,
        azimuth_steps_deg: tuple[float, ...] = (30.0, 45.0, 60.0, 90.0),
        tilts_deg: tuple[float, ...] = (30.0, 45.0, 60.0),
        tilt_azimuths: tuple[int, ...] = (0, 3, 4, 6),
    ) -> ScanPlan:
        """The fastest tuned raster (`raster_plan(tuned=True)`) over a grid of its settings that reaches
        the coverage target (the best-covering one if none does): the baseline to beat."""
        t0 = time.perf_counter()
        prepared = self._prepare(mesh)
        settings = [
            (a, t, k)
            for a in azimuth_steps_deg
            for k in tilt_azimuths
            for t in (tilts_deg if k else tilts_deg[:1])
        ]
        best: ScanPlan | None = None
        for a, t, k in tqdm(settings, desc="raster settings", disable=not self.progress, leave=False):
            plan = self._raster(prepared, a, t, k, tuned=True)
            plan.stats.update(azimuth_step_deg=a, tilt_deg=t, tilt_azimuths=k)
            key = (
                not plan.coverage.complete,
                plan.estimated_scan_time if plan.coverage.complete else -plan.coverage.coverage,
            )
            if best is None or key < (
                not best.coverage.complete,
                best.estimated_scan_time if best.coverage.complete else -best.coverage.coverage,
            ):
                best = plan
        assert best is not None
        best.stats["settings_tried"] = len(settings)
        best.stats["planning_time_s"] = round(time.perf_counter() - t0, 3)
        return best

    def _raster(
        self,
        prepared: tuple[InspectionSurface, ViewEvaluator, RayCaster],
        azimuth_step_deg: float,
        tilt_deg: float,
        tilt_azimuths: int,
        tuned: bool,
    ) -> ScanPlan:
        surface, evaluator, caster = prepared
        points, dirs = raster_viewpoints(
            surface,
            self.camera,
            self.stage,
            azimuth_step_deg=azimuth_step_deg,
            tilt_deg=tilt_deg,
            tilt_azimuths=tilt_azimuths,
            margin=self.element_size,
        )
        cands = _Candidates([], [], [], [], Counter())
        self._evaluate(evaluator, points, dirs, cands, "raster views", TimeBudget(None), 0.0)
        chosen = list(range(len(cands.seen)))
        if tuned and chosen:
            sets = cands.matrix(len(surface))
            need = surface.required & (np.asarray(sets.sum(axis=0)).ravel() > 0)
            chosen = sorted(prune_redundant(sets, chosen, need))
        return self._assemble(
            surface,
            cands,
            chosen,
            "tuned raster" if tuned else "raster",
            {"candidates": len(points)},
            reorder=tuned,
            caster=caster,
        )

    def _scan_bound(
        self,
        plan: ScanPlan,
        sets: sparse.csr_matrix,
        required: np.ndarray,
        cands: _Candidates,
        budget: TimeBudget,
    ) -> None:
        """Put into ``plan.stats`` the lower bounds on any plan over these candidates: moves
        (`cover_moves_lower_bound`) and scan time (views bound x per-view time + moves bound), so a
        scan-time target can be judged reachable or not. Skipped (None) when under 2 s are left."""
        views_lb = plan.stats.get("lower_bound")
        moves_lb = None
        if len(cands.seen) and budget.left > 2.0:  # one try of the bound takes up to ~1 s
            moves_lb = cover_moves_lower_bound(
                sets,
                required,
                np.array(cands.axes),
                self.start_axes,
                self.stage,
                deadline=budget.deadline(0.3),
            )
        per_view = self._settle_time() + self.timing.capture_time
        plan.stats["per_view_s"] = round(per_view, 4)
        plan.stats["cover_moves_lower_bound_s"] = (
            None if moves_lb is None else float(np.floor(moves_lb * 1e3) / 1e3)
        )
        plan.stats["scan_lower_bound_s"] = (
            None
            if moves_lb is None or views_lb is None
            else float(np.floor(scan_time_lower_bound(int(views_lb), per_view, moves_lb) * 1e3) / 1e3)
        )

    def evaluate(self, mesh: trimesh.Trimesh, axes: np.ndarray) -> CoverageReport:
        """Coverage achieved by any list of stage poses (N, 5), judged by this planner's criterion.

        Poses outside the stage limits or driving the part (or the fixture) into the camera are counted
        as rejected.
        """
        surface, evaluator, _ = self._prepare(mesh)
        seen = np.zeros(len(surface), dtype=bool)
        rejected: Counter = Counter()
        valid = []
        for row in np.atleast_2d(axes):
            try:
                self.stage.check_limits(row)
            except StageLimitError as exc:
                rejected[f"{exc.axis} out of range"] += 1
                continue
            valid.append(row)
        for result in evaluator.evaluate_many(valid):
            rejected["camera collision"] += int(result.collision)
            seen[result.seen] = True
        return coverage_report(surface, seen, self.target_coverage, {k: v for k, v in rejected.items() if v})

    # ------------------------------------------------------------------ steps
    def _settle_time(self) -> float:
        """Seconds the stage settles at each view: the timing's own, else the stage's parameter."""
        return (
            self.timing.settle_time if self.timing.settle_time is not None else self.stage.params.settle_time
        )

    def _reserve(self) -> float:
        """Seconds kept back from candidate evaluation for the set cover, the tour and the report."""
        return 0.0 if self.time_budget is None else min(0.3 * self.time_budget, 2.0 + 0.1 * self.time_budget)

    def _prepare(self, mesh: trimesh.Trimesh) -> tuple[InspectionSurface, ViewEvaluator, RayCaster]:
        surface = InspectionSurface.from_mesh(mesh, self.element_size, self.clamped_labels)
        caster = make_ray_caster(mesh, self.ray_backend)
        if self.outer_surface_only:
            # inner faces are the blade's own; what only the fixture hides stays required and reported
            surface = surface.without_hidden(exposed_elements(surface, caster))
        probe = None
        if self.fixture_occluder:
            fixture = fixture_mesh(self.stage.params)
            caster = OccludedRayCaster(caster, make_ray_caster(fixture, self.ray_backend))
            probe = fixture_probe(fixture, self.element_size)
        return surface, ViewEvaluator(surface, self.camera, self.stage, caster, probe), caster

    def _evaluate(
        self,
        evaluator: ViewEvaluator,
        points: np.ndarray,
        dirs: np.ndarray,
        cands: _Candidates,
        what: str,
        budget: TimeBudget,
        reserve: float,
        optional: bool = False,
    ) -> None:
        """Judge views in chunks (one ray-caster call each) until done or the budget runs out.

        ``optional``: views that only add choice (not the seeds of some surface): left unjudged when
        the budget runs out, they are not reported as a gap or as the plan being cut short.
        """
        bar = tqdm(total=len(points), desc=what, unit="view", disable=not self.progress, leave=False)
        for lo in range(0, len(points), self.chunk_views):
            if budget.expired(reserve):
                if optional:
                    break
                cands.dropped += [(p, d, "time budget") for p, d in zip(points[lo:], dirs[lo:], strict=True)]
                cands.rejected["not judged: time budget"] += len(points) - lo
                break
            chunk = []
            for p, d in zip(
                points[lo : lo + self.chunk_views], dirs[lo : lo + self.chunk_views], strict=True
            ):
                try:
                    chunk.append((p, d, self.stage.viewpoint_to_axes(p, d)))
                except StageLimitError as exc:
                    cands.rejected[f"{exc.axis or 'orientation'} out of range"] += 1
                    cands.dropped.append((p, d, "beyond stage limits"))
            for (p, d, axes), result in zip(
                chunk, evaluator.evaluate_many([c[2] for c in chunk]), strict=True
            ):
                if result.collision:
                    cands.rejected["camera collision"] += 1
                    cands.dropped.append((p, d, "camera collision"))
                else:
                    if len(result.occluder_blocked):
                        cands.occluder_blocked.append(result.occluder_blocked)
                    if len(result.seen):
                        cands.points.append(p)
                        cands.directions.append(d)
                        cands.axes.append(axes)
                        cands.seen.append(result.seen)
            bar.update(min(self.chunk_views, len(points) - lo))
        bar.close()

    def _solve(
        self,
        sets: sparse.csr_matrix,
        required: np.ndarray,
        budget: TimeBudget,
        base: np.ndarray | None = None,
    ) -> tuple[list[int], dict]:
        """Fewest views: greedy, then the ILP; ``base`` (rows without the tilted seeds) is solved
        exactly first, as the ILP over all rows can stall at its time limit (medium blade, 1517
        rows: no better than greedy's 25 views after 15 s, where the base ILP finds 21 in a second),
        and the cover with fewest views wins."""
        stats: dict = {}
        greedy = greedy_set_cover(sets, required)
        stats["greedy_viewpoints"] = len(greedy)
        chosen, method = greedy, "greedy"

        def use_ilp(rows: int) -> bool:
            return self.solver == "ilp" or (self.solver == "auto" and rows <= self.ilp_max_candidates)

        ilp_time = min(self.ilp_time_limit, 0.5 * budget.left)
        if base is not None and 0 < base.sum() < len(base) and use_ilp(int(base.sum())) and ilp_time >= 0.5:
            rows = np.flatnonzero(base)
            sub = ilp_set_cover(sets[rows], required, ilp_time)
            if sub is not None:
                cover = _complete_cover(sets, required, [int(rows[i]) for i in sub.chosen])
                if len(cover) < len(chosen):
                    chosen, method = cover, "ilp on head-on views" + ("" if sub.optimal else " (time limit)")
            ilp_time = min(self.ilp_time_limit, 0.5 * budget.left)
        if use_ilp(sets.shape[0]) and ilp_time >= 0.5:
            sol = ilp_set_cover(sets, required, ilp_time)
            if sol is not None and len(sol.chosen) <= len(chosen):
                chosen, method = sol.chosen, "ilp" + ("" if sol.optimal else " (time limit)")
            stats["lower_bound"] = sol.lower_bound if sol is not None else None
        else:
            lp_time = min(self.ilp_time_limit, 0.3 * budget.left)
            stats["lower_bound"] = lp_lower_bound(sets, required, lp_time) if lp_time > 0.05 else None
        stats["solver"] = method
        return chosen, stats

    def _assemble(
        self,
        surface: InspectionSurface,
        cands: _Candidates,
        chosen: list[int],
        method: str,
        stats: dict,
        reorder: bool,
        caster: RayCaster,
        budget: TimeBudget | None = None,
        stopped: str | None = None,
        swap: bool = False,
    ) -> ScanPlan:
        axes = np.array([cands.axes[i] for i in chosen]).reshape(-1, 5)
        if reorder:
            deadline = budget.deadline(0.5) if budget is not None else None
            cost = travel_time_matrix(np.vstack([self.start_axes, axes]), self.stage)
            order = order_viewpoints(axes, self.start_axes, self.stage, deadline=deadline, cost=cost)
            if swap and len(chosen) > 1:
                sets = cands.matrix(len(surface))
                need = surface.required & (np.asarray(sets.sum(axis=0)).ravel() > 0)
                all_axes = np.array(cands.axes)
                before = float(path_cost([0, *[k + 1 for k in order]], cost))
                chosen = swap_for_travel(
                    [chosen[k] for k in order], sets, need, all_axes, self.start_axes, self.stage, deadline
                )
                axes = all_axes[chosen]
                cost = travel_time_matrix(np.vstack([self.start_axes, axes]), self.stage)
                order = order_viewpoints(
                    axes,
                    self.start_axes,
                    self.stage,
                    deadline=deadline,
                    cost=cost,
                    initial=list(range(len(chosen))),
                )
                stats["moves_before_swaps_s"] = round(before, 3)
            stats["tour_lower_bound_s"] = float(np.floor(path_lower_bound(cost) * 1e3) / 1e3)  # round down
        else:
            order = list(range(len(chosen)))
        chosen = [chosen[i] for i in order]
        axes = assign_rotary_turns(axes[order], self.start_axes, self.stage)
        seen = np.zeros(len(surface), dtype=bool)
        viewpoints = []
        for i, row in zip(chosen, axes, strict=True):
            elements = cands.seen[i]
            seen[elements] = True
            viewpoints.append(
                Viewpoint(
                    cands.points[i], cands.directions[i], row, float(surface.areas[elements].sum()), elements
                )
            )
        timing = ScanTimeEstimate(
            leg_times=leg_times(axes, self.start_axes, self.stage),
            settle=self._settle_time() * len(viewpoints),
            capture=self.timing.capture_time * len(viewpoints),
        )
        reasons = gap_reasons(
            surface,
            seen,
            cands.dropped,
            caster,
            self.camera.max_incidence,
            self.candidate_spacing,
            cands.blocked_by_occluder(len(surface)),
        )
        report = coverage_report(surface, seen, self.target_coverage, dict(cands.rejected), reasons, stopped)
        return ScanPlan(tuple(viewpoints), report, timing, self.start_axes.copy(), method, surface, stats)
