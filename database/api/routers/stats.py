"""Statistics for quality engineers: defects per class per week (the trend chart), per part family."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from ...errors import InvalidInputError
from ...services import statistics
from ..deps import Engineer, SessionDep
from ..schemas.common import ERROR_RESPONSES
from ..schemas.defects import DefectFilterParams
from ..schemas.stats import FamilyClassCount, FamilyStatsOut, WeeklyStatsOut

DEFAULT_WEEKS = 12
MAX_WEEKS = 520
router = APIRouter(prefix="/stats", tags=["statistics"], responses=ERROR_RESPONSES)


@router.get("/defects-per-week", response_model=WeeklyStatsOut, summary="Defects per class per week")
def defects_per_week(
    params: Annotated[DefectFilterParams, Query()],
    session: SessionDep,
    _: Engineer,
) -> WeeklyStatsOut:
    filters = params.to_filter()  # times normalised to UTC
    weeks = DEFAULT_WEEKS
    if filters.detected_from is not None:
        end = filters.detected_to or datetime.now(UTC)
        weeks = max(1, (end - filters.detected_from).days // 7 + 1)
    if weeks > MAX_WEEKS:
        raise InvalidInputError(
            "detected_from", f"the weekly statistics cover at most {MAX_WEEKS} weeks (10 years)"
        )
    rows = statistics.defects_per_week(session, filters, weeks)
    if not rows:
        return WeeklyStatsOut(weeks=[], classes=[], counts={}, total=0)
    first, last = min(r.week_start for r in rows), max(r.week_start for r in rows)
    week_list = [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
    index = {w: i for i, w in enumerate(week_list)}
    classes = sorted({r.defect_class for r in rows})
    counts = {c: [0] * len(week_list) for c in classes}
    for r in rows:
        counts[r.defect_class][index[r.week_start]] += r.count
    return WeeklyStatsOut(weeks=week_list, classes=classes, counts=counts, total=sum(r.count for r in rows))


@router.get("/defects-per-family", response_model=FamilyStatsOut, summary="Defects per part family and class")
def defects_per_family(
    params: Annotated[DefectFilterParams, Query()], session: SessionDep, _: Engineer
) -> FamilyStatsOut:
    rows = statistics.defects_per_family(session, params.to_filter())
    totals: dict[str, int] = {}
    for r in rows:
        totals[r.part_family] = totals.get(r.part_family, 0) + r.count
    return FamilyStatsOut(
        rows=[
            FamilyClassCount(part_family=r.part_family, defect_class=r.defect_class, count=r.count)
            for r in rows
        ],
        totals=totals,
        cycles=statistics.cycles_per_family(session),
    )
