"""Why an unseen part of the surface stayed unseen: one `GAP_REASONS` entry per required element.

Order of precedence: hidden from outside (no ray from outside reaches it), then the reason a candidate
view facing it was dropped (time budget, stage limits, camera collision), else occluded or out of focus.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from platform_control.coverage.exposure import exposed_elements
from platform_control.coverage.surface import InspectionSurface
from platform_control.coverage.visibility import RayCaster

DROP_LABELS = {
    "time budget": "not evaluated (time budget)",
    "beyond stage limits": "beyond stage limits",
    "camera collision": "camera collision",
}


def gap_reasons(
    surface: InspectionSurface,
    seen: np.ndarray,
    dropped: Sequence[tuple[np.ndarray, np.ndarray, str]],
    caster: RayCaster,
    max_incidence: float,
    spacing: float,
) -> np.ndarray:
    """(E,) reason for each required, unseen element ('' elsewhere). ``dropped``: (focus point,
    view direction, why) of the candidate views that were not judged or not reachable; a dropped view
    accounts for the unseen elements within ``spacing`` of its focus point that it faces."""
    reason = np.full(len(surface), "", dtype=object)
    gap = np.flatnonzero(surface.required & ~seen)
    if len(gap) == 0:
        return reason
    reason[gap] = "occluded or out of focus"
    hidden = ~exposed_elements(surface, caster, elements=gap)[gap]
    rest = gap[~hidden]
    if dropped and len(rest):
        tree = cKDTree(surface.centers[rest])
        cos_max = np.cos(max_incidence)
        claimed = np.zeros(len(rest), dtype=bool)
        for why, label in DROP_LABELS.items():  # in order of precedence
            views = [(p, d) for p, d, r in dropped if r == why]
            if not views:
                continue
            pts = np.array([p for p, _ in views])
            dirs = np.array([d for _, d in views])
            for k, near in enumerate(tree.query_ball_point(pts, r=spacing)):
                near = np.asarray(near, dtype=np.int64)
                near = near[~claimed[near]]
                near = near[surface.normals[rest[near]] @ dirs[k] >= cos_max]
                reason[rest[near]] = label
                claimed[near] = True
    reason[gap[hidden]] = "hidden from outside"
    return reason
