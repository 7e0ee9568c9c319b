"""The planner's output: ordered viewpoints with stage axis values, coverage report and scan time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from platform_control.coverage.report import CoverageReport
from platform_control.coverage.surface import InspectionSurface


@dataclass(frozen=True)
class ScanTiming:
    """Time spent at each viewpoint besides moving: settle, then one frame per light channel.

    ``settle_time=None`` takes the stage's settle time from its parameter file.
    """

    n_channels: int = 6
    capture_time_per_channel: float = 0.05  # s: light switch + exposure + readout of one channel frame
    settle_time: float | None = None

    def __post_init__(self) -> None:
        if self.n_channels < 1:
            raise ValueError(f"ScanTiming.n_channels must be >= 1, got {self.n_channels}")
        if self.capture_time_per_channel < 0 or (self.settle_time is not None and self.settle_time < 0):
            raise ValueError("ScanTiming times must not be negative")

    @property
    def capture_time(self) -> float:
        return self.n_channels * self.capture_time_per_channel


@dataclass(frozen=True, eq=False)
class Viewpoint:
    """One stop of the scan.

    ``point``: blade-frame point placed on the camera's focus point; ``view_direction``: blade-frame
    unit vector from that point towards the camera; ``axes``: stage [X, Y, Z, A, C] that realise it;
    ``elements``: indices into the plan's `InspectionSurface` of the elements this view images
    acceptably (`ScanPlan.faces_seen` maps them to mesh faces).
    """

    point: np.ndarray
    view_direction: np.ndarray
    axes: np.ndarray
    seen_area: float
    elements: np.ndarray = field(repr=False)


@dataclass(frozen=True, eq=False)
class ScanTimeEstimate:
    """Seconds: stage moves (per leg, start -> first viewpoint included), settling and capturing."""

    leg_times: np.ndarray
    settle: float
    capture: float

    @property
    def moves(self) -> float:
        return float(np.sum(self.leg_times))

    @property
    def total(self) -> float:
        return self.moves + self.settle + self.capture


@dataclass(frozen=True, eq=False)
class ScanPlan:
    """Ordered viewpoints, what they cover, and how long the scan takes."""

    viewpoints: tuple[Viewpoint, ...]
    coverage: CoverageReport
    timing: ScanTimeEstimate
    start_axes: np.ndarray
    method: str
    surface: InspectionSurface = field(repr=False)
    stats: dict[str, float | int | str | None] = field(default_factory=dict)

    @property
    def estimated_scan_time(self) -> float:
        return self.timing.total

    @property
    def axes(self) -> np.ndarray:
        """(N, 5) stage axis values in visiting order."""
        return np.array([v.axes for v in self.viewpoints]).reshape(-1, 5)

    def __len__(self) -> int:
        return len(self.viewpoints)

    def faces_seen(self, index: int) -> np.ndarray:
        """Mesh face indices (unique) imaged acceptably by viewpoint ``index`` of the visiting order."""
        return np.unique(self.surface.parent[self.viewpoints[index].elements])

    def summary(self) -> str:
        return (
            f"{self.method} plan: {len(self)} viewpoints, "
            f"estimated scan time {self.estimated_scan_time:.1f} s "
            f"(moves {self.timing.moves:.1f} s, settle {self.timing.settle:.1f} s, capture "
            f"{self.timing.capture:.1f} s)\n{self.coverage.summary()}"
        )
