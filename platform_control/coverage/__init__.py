"""Full-coverage scan planning for the fixed camera and the 5-axis stage."""

from platform_control.coverage.plan import ScanPlan, ScanTimeEstimate, ScanTiming, Viewpoint
from platform_control.coverage.planner import CoveragePlanner, IncompleteCoverageError
from platform_control.coverage.report import CoverageReport
from platform_control.coverage.surface import InspectionSurface
from platform_control.coverage.visibility import (
    EmbreeRayCaster,
    MujocoRayCaster,
    TrimeshRayCaster,
    ViewEvaluator,
)

__all__ = [
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
]
