"""What a scan plan sees and what it misses, by area, by face label and by mesh face.

A plan never hides a gap: every required mesh face with unseen area is listed with that area, the
viewpoints the planner had to drop (stage limits, camera collision) are counted by reason, and the
unseen area is split by why it is unseen (`GAP_REASONS`), with the faces of each part.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from platform_control.coverage.surface import InspectionSurface

GAP_REASONS: tuple[str, ...] = (
    "hidden from outside",  # inner faces: no line of sight from outside the part reaches them
    "not evaluated (time budget)",  # the budget ran out before views of them were tried
    "beyond stage limits",  # the views that would see them need axis values outside the travel
    "camera collision",  # the views that would see them drive the part into the camera envelope
    "occluded by the fixture",  # the clamp or the C table stands in every line of sight that would see them
    "occluded or out of focus",  # views were tried; the blade itself or the depth of field got in the way
)


@dataclass(frozen=True, eq=False)
class CoverageReport:
    """Coverage of the required (non-clamped) surface area. Areas in m^2."""

    total_area: float
    required_area: float
    excluded_area: float
    excluded_labels: tuple[str, ...]
    covered_area: float
    target: float
    uncovered_faces: np.ndarray  # mesh face indices with required area left unseen
    uncovered_face_area: np.ndarray  # unseen area of each of those faces
    per_label: dict[str, tuple[float, float]]  # label -> (required area, covered area)
    rejected_viewpoints: dict[str, int] = field(default_factory=dict)  # reason -> count
    gap_area: dict[str, float] = field(default_factory=dict)  # GAP_REASONS entry -> unseen area
    gap_faces: dict[str, np.ndarray] = field(default_factory=dict)  # GAP_REASONS entry -> mesh faces
    hidden_excluded_area: float = 0.0  # area left out as hidden from outside (outer-surface planning)
    stopped: str | None = None  # why planning stopped early ('time budget'), None when it finished
    element_gap_reason: np.ndarray | None = field(default=None, repr=False)  # (E,) per element, '' if seen

    @property
    def coverage(self) -> float:
        """Fraction of the required area seen in focus, within the incidence limit, unoccluded."""
        return self.covered_area / self.required_area if self.required_area > 0 else 1.0

    @property
    def uncovered_area(self) -> float:
        return self.required_area - self.covered_area

    @property
    def complete(self) -> bool:
        """True when the coverage reaches the target."""
        return self.coverage >= self.target - 1e-12

    def summary(self) -> str:
        lines = [
            f"coverage {100 * self.coverage:.2f} % of {self.required_area * 1e6:.0f} mm^2 required "
            f"(target {100 * self.target:.1f} %, {self.excluded_area * 1e6:.0f} mm^2 of "
            f"{'/'.join(self.excluded_labels) or 'nothing'} excluded as clamped"
            + (
                f", {self.hidden_excluded_area * 1e6:.0f} mm^2 hidden from outside not planned"
                if self.hidden_excluded_area
                else ""
            )
            + ")"
        ]
        if self.stopped:
            lines.append(f"  planning stopped early: {self.stopped}; this is the best plan found")
        for label, (req, cov) in sorted(self.per_label.items()):
            lines.append(f"  {label:<18} {100 * cov / req if req else 100:6.2f} % of {req * 1e6:8.1f} mm^2")
        if len(self.uncovered_faces):
            worst = np.argsort(self.uncovered_face_area)[::-1][:10]
            listed = ", ".join(
                f"{self.uncovered_faces[i]} ({self.uncovered_face_area[i] * 1e6:.2f} mm^2)" for i in worst
            )
            lines.append(
                f"  uncovered: {self.uncovered_area * 1e6:.2f} mm^2 on {len(self.uncovered_faces)} faces, "
                f"largest: {listed}"
            )
        for reason in GAP_REASONS:
            if self.gap_area.get(reason, 0.0) > 0:
                faces = self.gap_faces.get(reason, np.zeros(0, dtype=np.int64))
                lines.append(
                    f"  unseen, {reason}: {self.gap_area[reason] * 1e6:.2f} mm^2 on {len(faces)} faces "
                    f"{_quote(faces)}"
                )
        if self.rejected_viewpoints:
            reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.rejected_viewpoints.items()))
            lines.append(f"  candidate viewpoints rejected: {reasons}")
        return "\n".join(lines)


def _quote(faces: np.ndarray, shown: int = 8) -> str:
    head = ", ".join(str(int(f)) for f in faces[:shown])
    return f"[{head}{', ...' if len(faces) > shown else ''}]"


def coverage_report(
    surface: InspectionSurface,
    seen: np.ndarray,
    target: float,
    rejected: dict[str, int] | None = None,
    gap_reason: np.ndarray | None = None,
    stopped: str | None = None,
) -> CoverageReport:
    """Build the report from a (E,) bool mask of elements seen by the plan's viewpoints.

    ``gap_reason``: (E,) `GAP_REASONS` entry per element (read only where required and unseen).
    """
    seen = np.asarray(seen, dtype=bool) & surface.required
    gap = surface.required & ~seen
    faces, face_area = surface.parent_area(gap)
    gap_area: dict[str, float] = {}
    gap_faces: dict[str, np.ndarray] = {}
    if gap_reason is not None:
        unknown = set(np.unique(gap_reason[gap]).tolist()) - set(GAP_REASONS)
        if unknown:
            raise ValueError(f"unknown gap reasons {sorted(unknown)}; known: {GAP_REASONS}")
        for reason in GAP_REASONS:
            mask = gap & (gap_reason == reason)
            if mask.any():
                gap_area[reason] = float(surface.areas[mask].sum())
                gap_faces[reason] = np.unique(surface.parent[mask])
    per_label = {}
    for label in np.unique(surface.labels[surface.required]):
        mask = surface.required & (surface.labels == label)
        per_label[str(label)] = (float(surface.areas[mask].sum()), float(surface.areas[mask & seen].sum()))
    return CoverageReport(
        total_area=surface.total_area,
        required_area=surface.required_area,
        excluded_area=surface.excluded_area,
        excluded_labels=surface.clamped_labels,
        covered_area=float(surface.areas[seen].sum()),
        target=target,
        uncovered_faces=faces,
        uncovered_face_area=face_area,
        per_label=per_label,
        rejected_viewpoints=dict(rejected or {}),
        gap_area=gap_area,
        gap_faces=gap_faces,
        hidden_excluded_area=surface.hidden_area,
        stopped=stopped,
        element_gap_reason=None if gap_reason is None else np.where(gap, gap_reason, ""),
    )
