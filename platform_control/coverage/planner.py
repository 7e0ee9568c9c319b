"""Full-coverage scan planning: candidates -> visibility -> set cover -> tour -> stage axes.

`CoveragePlanner.plan(mesh)` returns a `ScanPlan` whose viewpoints, in visiting order, carry the stage
axis values that put each focus point on the camera's focus point. The same evaluator (footprint,
depth of field, incidence, ray-cast occlusion, camera collision) judges the planner's views and the
naive raster baseline (`raster_plan`), so their coverage and times compare like for like.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy import sparse
from tqdm.auto import tqdm

from platform_control.blade.spec import CLAMPED_LABELS
from platform_control.camera import PinholeCamera
from platform_control.coverage.candidates import direction_bins, grouped_views, tilted_views
from platform_control.coverage.ordering import assign_rotary_turns, leg_times, order_viewpoints
from platform_control.coverage.plan import ScanPlan, ScanTimeEstimate, ScanTiming, Viewpoint
from platform_control.coverage.raster import raster_viewpoints
from platform_control.coverage.report import CoverageReport, coverage_report
from platform_control.coverage.set_cover import greedy_set_cover, ilp_set_cover, lp_lower_bound
from platform_control.coverage.surface import InspectionSurface
from platform_control.coverage.visibility import ViewEvaluator, make_ray_caster
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


class CoveragePlanner:
    """Plans a scan of a blade that sees its whole required surface, in a short stage tour.

    Args:
        camera: the inspection camera (intrinsics, working distance, depth of field, incidence, overlap).
        stage: stage kinematics (limits, speeds, geometry relative to the camera).
        timing: settle and per-channel capture time per viewpoint.
        target_coverage: fraction of the required area a complete plan must see.
        element_size: coverage is measured on surface elements no larger than this (m).
        candidate_spacing: size of the position cells that seed candidate views (default: a quarter
            of the smaller usable field-of-view side).
        solver: 'greedy', 'ilp' or 'auto' (ILP when the instance is small, greedy otherwise; the
            result with fewer views wins).
        ray_backend: 'mujoco' (fast) or 'trimesh' (reference).
        clamped_labels: face labels held in the fixture, excluded from coverage.
        start_axes: stage pose the scan starts from (default: all axes at 0, clipped into range).
        refine_rounds: rounds of targeted, tilted candidates for elements nothing sees yet.
        progress: show progress bars.
    """

    def __init__(
        self,
        camera: CameraParams,
        stage: StageKinematics,
        *,
        timing: ScanTiming | None = None,
        target_coverage: float = 0.99,
        element_size: float = 0.005,
        candidate_spacing: float | None = None,
        solver: str = "auto",
        ilp_max_candidates: int = 3000,
        ilp_time_limit: float = 15.0,
        ray_backend: str = "mujoco",
        clamped_labels: tuple[str, ...] = CLAMPED_LABELS,
        start_axes: np.ndarray | None = None,
        refine_rounds: int = 2,
        progress: bool = False,
    ) -> None:
        if solver not in {"greedy", "ilp", "auto"}:
            raise ValueError(f"solver must be 'greedy', 'ilp' or 'auto', got '{solver}'")
        if not 0 < target_coverage <= 1:
            raise ValueError(f"target_coverage must be in (0, 1], got {target_coverage}")
        self.camera = PinholeCamera(camera)
        self.stage = stage
        self.timing = timing or ScanTiming()
        self.target_coverage = target_coverage
        self.element_size = element_size
        usable = min(self.camera.usable_field_of_view())
        self.candidate_spacing = candidate_spacing or 0.3 * usable
        self.solver = solver
        self.ilp_max_candidates = ilp_max_candidates
        self.ilp_time_limit = ilp_time_limit
        self.ray_backend = ray_backend
        self.clamped_labels = tuple(clamped_labels)
        home = np.zeros(5) if start_axes is None else np.asarray(start_axes, dtype=float)
        self.start_axes = np.clip(home, stage.limits[:, 0], stage.limits[:, 1])
        self.refine_rounds = refine_rounds
        self.progress = progress
        self._bins = direction_bins(2)

    # ------------------------------------------------------------------ public
    def plan(self, mesh: trimesh.Trimesh, *, strict: bool = False) -> ScanPlan:
        """Viewpoints that cover the blade, in visiting order. ``strict`` raises if coverage < target."""
        t0 = time.perf_counter()
        surface, evaluator = self._prepare(mesh)
        cands = _Candidates([], [], [], [], Counter())
        required = np.flatnonzero(surface.required)
        points, dirs = grouped_views(surface, required, self.candidate_spacing, self._bins)
        self._evaluate(evaluator, points, dirs, cands, "candidate views")
        tilts = np.array([[0.35, 0.7], [0.55, 0.9]]) * np.rad2deg(self.camera.max_incidence)
        for rnd in range(self.refine_rounds):
            missing = np.flatnonzero(surface.required & ~cands.union(len(surface)))
            if len(missing) == 0:
                break
            pts, nrm = grouped_views(surface, missing, 0.5 * self.candidate_spacing, self._bins)
            pts, dirs = tilted_views(pts, nrm, tuple(tilts[min(rnd, len(tilts) - 1)]), azimuths=6)
            self._evaluate(evaluator, pts, dirs, cands, f"refinement {rnd + 1}")
        sets = cands.matrix(len(surface))
        chosen, stats = self._solve(sets, surface.required)
        stats.update(candidates=len(cands.seen), elements=len(surface))
        plan = self._assemble(surface, cands, chosen, cands.rejected, "coverage", stats, reorder=True)
        plan.stats["planning_time_s"] = round(time.perf_counter() - t0, 3)
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
    ) -> ScanPlan:
        """The naive baseline: a serpentine raster of the usable field of view and depth of field
        around the blade from evenly spaced directions, visiting grid cells that contain surface."""
        t0 = time.perf_counter()
        surface, evaluator = self._prepare(mesh)
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
        self._evaluate(evaluator, points, dirs, cands, "raster views")
        chosen = list(range(len(cands.seen)))
        plan = self._assemble(
            surface, cands, chosen, cands.rejected, "raster", {"candidates": len(points)}, reorder=False
        )
        plan.stats["planning_time_s"] = round(time.perf_counter() - t0, 3)
        return plan

    def evaluate(self, mesh: trimesh.Trimesh, axes: np.ndarray) -> CoverageReport:
        """Coverage achieved by any list of stage poses (N, 5), judged by this planner's criterion.

        Poses outside the stage limits or driving the part into the camera are counted as rejected.
        """
        surface, evaluator = self._prepare(mesh)
        seen = np.zeros(len(surface), dtype=bool)
        rejected: Counter = Counter()
        for row in np.atleast_2d(axes):
            try:
                self.stage.check_limits(row)
            except StageLimitError as exc:
                rejected[f"{exc.axis} out of range"] += 1
                continue
            result = evaluator.evaluate(row)
            rejected["camera collision"] += int(result.collision)
            seen[result.seen] = True
        return coverage_report(surface, seen, self.target_coverage, {k: v for k, v in rejected.items() if v})

    # ------------------------------------------------------------------ steps
    def _prepare(self, mesh: trimesh.Trimesh) -> tuple[InspectionSurface, ViewEvaluator]:
        surface = InspectionSurface.from_mesh(mesh, self.element_size, self.clamped_labels)
        caster = make_ray_caster(mesh, self.ray_backend)
        return surface, ViewEvaluator(surface, self.camera, self.stage, caster)

    def _evaluate(
        self, evaluator: ViewEvaluator, points: np.ndarray, dirs: np.ndarray, cands: _Candidates, what: str
    ) -> None:
        for p, d in tqdm(
            list(zip(points, dirs, strict=True)), desc=what, disable=not self.progress, leave=False
        ):
            try:
                axes = self.stage.viewpoint_to_axes(p, d)
            except StageLimitError as exc:
                cands.rejected[f"{exc.axis or 'orientation'} out of range"] += 1
                continue
            result = evaluator.evaluate(axes)
            if result.collision:
                cands.rejected["camera collision"] += 1
                continue
            if len(result.seen) == 0:
                continue
            cands.points.append(p)
            cands.directions.append(d)
            cands.axes.append(axes)
            cands.seen.append(result.seen)

    def _solve(self, sets: sparse.csr_matrix, required: np.ndarray) -> tuple[list[int], dict]:
        stats: dict = {}
        greedy = greedy_set_cover(sets, required)
        stats["greedy_viewpoints"] = len(greedy)
        chosen, method = greedy, "greedy"
        small = sets.shape[0] <= self.ilp_max_candidates
        if self.solver == "ilp" or (self.solver == "auto" and small):
            sol = ilp_set_cover(sets, required, self.ilp_time_limit)
            if sol is not None and len(sol.chosen) <= len(greedy):
                chosen, method = sol.chosen, "ilp" + ("" if sol.optimal else " (time limit)")
            stats["lower_bound"] = sol.lower_bound if sol is not None else None
        else:
            stats["lower_bound"] = lp_lower_bound(sets, required)
        stats["solver"] = method
        return chosen, stats

    def _assemble(
        self,
        surface: InspectionSurface,
        cands: _Candidates,
        chosen: list[int],
        rejected: Counter,
        method: str,
        stats: dict,
        reorder: bool,
    ) -> ScanPlan:
        axes = np.array([cands.axes[i] for i in chosen]).reshape(-1, 5)
        order = order_viewpoints(axes, self.start_axes, self.stage) if reorder else list(range(len(chosen)))
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
        settle = (
            self.timing.settle_time if self.timing.settle_time is not None else self.stage.params.settle_time
        )
        timing = ScanTimeEstimate(
            leg_times=leg_times(axes, self.start_axes, self.stage),
            settle=settle * len(viewpoints),
            capture=self.timing.capture_time * len(viewpoints),
        )
        report = coverage_report(surface, seen, self.target_coverage, dict(rejected))
        return ScanPlan(tuple(viewpoints), report, timing, self.start_axes.copy(), method, surface, stats)
