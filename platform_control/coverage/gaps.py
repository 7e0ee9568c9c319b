"""Why an unseen part of the surface stayed unseen: one `GAP_REASONS` entry per required element.

Order of precedence, first match wins:
1. hidden from outside: no ray from outside reaches it past the blade itself (an inner face);
2. occluded by the fixture: rays from outside within the incidence limit reach it past the blade, but
   none past the fixture and the C table as well; no camera pose can help, so this outranks 3;
3. the reason a candidate view facing it was dropped (time budget, stage limits, camera collision):
   that view might have seen it, so it is named before what the judged views ran into;
4. occluded by the fixture: a judged view would have imaged it but for the fixture in its line of sight;
5. else occluded or out of focus (the blade itself or the depth of field got in the way).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from platform_control.coverage.exposure import exposed_elements
from platform_control.coverage.surface import InspectionSurface
from platform_control.coverage.visibility import OccludedRayCaster, RayCaster, blade_caster

DROP_LABELS = {
    "time budget": "not evaluated (time budget)",
    "beyond stage limits": "beyond stage limits",
    "camera collision": "camera collision",
}
FIXTURE = "occluded by the fixture"


def gap_reasons(
    surface: InspectionSurface,
    seen: np.ndarray,
    dropped: Sequence[tuple[np.ndarray, np.ndarray, str]],
    caster: RayCaster,
    max_incidence: float,
    spacing: float,
    occluder_blocked: np.ndarray | None = None,
) -> np.ndarray:
    """(E,) reason for each required, unseen element ('' elsewhere). ``dropped``: (focus point,
    view direction, why) of the candidate views that were not judged or not reachable; a dropped view
    accounts for the unseen elements within ``spacing`` of its focus point that it faces.
    ``caster``: an `OccludedRayCaster` when the fixture is in the scene (else no gap is the fixture's);
    ``occluder_blocked``: (E,) bool, some judged view would have imaged the element but for the fixture.
    """
    reason = np.full(len(surface), "", dtype=object)
    gap = np.flatnonzero(surface.required & ~seen)
    if len(gap) == 0:
        return reason
    reason[gap] = "occluded or out of focus"
    if occluder_blocked is not None:
        reason[gap[np.asarray(occluder_blocked, dtype=bool)[gap]]] = FIXTURE
    hidden = ~exposed_elements(surface, blade_caster(caster), elements=gap)[gap]
    rest = gap[~hidden]
    behind_fixture = np.zeros(len(rest), dtype=bool)
    if isinstance(caster, OccludedRayCaster) and len(rest):
        # finer directions than the inner-face test: within the incidence limit only a cone is left
        angle = float(np.rad2deg(max_incidence))
        past_blade = exposed_elements(
            surface, caster.blade, elements=rest, max_angle_deg=angle, subdivisions=3
        )
        past_all = exposed_elements(surface, caster, elements=rest, max_angle_deg=angle, subdivisions=3)
        behind_fixture = (past_blade & ~past_all)[rest]
    reason[rest[behind_fixture]] = FIXTURE
    rest = rest[~behind_fixture]
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
