"""Defect statistics for the trend chart: defects per class per ISO week, and per part family."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Select, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from ..orm import Blade, Defect, InspectionCycle, PartFamily, utcnow
from .defect_search import DefectFilter, filter_conditions


class week_start(FunctionElement[date]):  # noqa: N801 - SQL function names are lower case
    """The Monday (UTC) of the ISO week containing a timestamp, on each backend."""

    type = Date()
    inherit_cache = True


@compiles(week_start, "postgresql")
def _week_start_pg(element: week_start, compiler: Any, **kw: Any) -> str:
    return f"CAST(date_trunc('week', {compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC') AS DATE)"


@compiles(week_start, "sqlite")
def _week_start_sqlite(element: week_start, compiler: Any, **kw: Any) -> str:
    # SQLite stores naive UTC text; 'weekday 0' moves to the next Sunday (or stays), -6 days is its Monday.
    return f"date({compiler.process(element.clauses, **kw)}, 'weekday 0', '-6 days')"


@dataclass(frozen=True)
class WeeklyCount:
    week_start: date
    defect_class: str
    count: int


@dataclass(frozen=True)
class FamilyCount:
    part_family: str
    defect_class: str
    count: int


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def weekly_query(session: Session, filters: DefectFilter, weeks: int) -> Select[Any] | None:
    """The GROUP BY (week, class) statement; None when a named blade/family/model does not exist."""
    if filters.detected_from is None:
        now = utcnow()
        monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        filters = filters.model_copy(update={"detected_from": monday - timedelta(weeks=weeks - 1)})
    conditions = filter_conditions(session, filters)
    if conditions is None:
        return None
    week = week_start(Defect.detected_at)
    return (
        select(week.label("week"), Defect.defect_class, func.count())
        .where(*conditions)
        .group_by(week, Defect.defect_class)
        .order_by(week, Defect.defect_class)
    )


def defects_per_week(session: Session, filters: DefectFilter, weeks: int) -> list[WeeklyCount]:
    """Counts per (week, class) over the last `weeks` weeks (or the filter's date range)."""
    query = weekly_query(session, filters, weeks)
    if query is None:
        return []
    return [WeeklyCount(_as_date(w), c, n) for w, c, n in session.execute(query)]


def defects_per_family(session: Session, filters: DefectFilter) -> list[FamilyCount]:
    conditions = filter_conditions(session, filters)
    if conditions is None:
        return []
    rows = session.execute(
        select(PartFamily.code, Defect.defect_class, func.count())
        .join(PartFamily, PartFamily.id == Defect.part_family_id)
        .where(*conditions)
        .group_by(PartFamily.code, Defect.defect_class)
        .order_by(PartFamily.code, Defect.defect_class)
    )
    return [FamilyCount(f, c, n) for f, c, n in rows]


def cycles_per_family(session: Session) -> dict[str, dict[str, int]]:
    """Cycles and blades recorded per family, to put defect counts in proportion."""
    rows = session.execute(
        select(
            PartFamily.code,
            func.count(InspectionCycle.id),
            func.count(func.distinct(InspectionCycle.blade_id)),
        )
        .select_from(PartFamily)
        .join(Blade, Blade.part_family_id == PartFamily.id)
        .join(InspectionCycle, InspectionCycle.blade_id == Blade.id)
        .group_by(PartFamily.code)
    )
    return {code: {"cycles": cycles, "blades": blades} for code, cycles, blades in rows}
