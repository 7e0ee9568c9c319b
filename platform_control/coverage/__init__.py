"""Full-coverage scan planning for the fixed camera and the 5-axis stage."""

from platform_control.coverage.picture import plot_plan, write_plan_report
from platform_control.coverage.plan import ScanPlan, ScanTimeEstimate, ScanTiming, Viewpoint
from platform_control.coverage.planner import CoveragePlanner, IncompleteCoverageError
from platform_control.coverage.report import GAP_REASONS, CoverageReport
from platform_control.coverage.surface import InspectionSurface
from platform_control.coverage.visibility import (
    EmbreeRayCaster,
    MujocoRayCaster,
    TrimeshRayCaster,
    ViewEvaluator,
)

__all__ = [
    "GAP_REASONS",
    "CoveragePlanner",
    "CoverageReport",
    "EmbreeRayCaster",
    "IncompleteCoverageError",
    "InspectionSurface",
    "MujocoRayCaster",
    "ScanPlan",
    "ScanTimeEstimate",
    "ScanTiming",
    "TrimeshRayCaster",
    "ViewEvaluator",
    "Viewpoint",
    "plot_plan",
    "write_plan_report",
]
