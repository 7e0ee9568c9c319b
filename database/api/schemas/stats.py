"""Statistics for the trend chart."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class WeeklyStatsOut(BaseModel):
    weeks: list[date] = Field(description="Mondays (UTC) of the weeks, oldest first, no gaps")
    classes: list[str]
    counts: dict[str, list[int]] = Field(description="per class, one count per week")
    total: int


class FamilyClassCount(BaseModel):
    part_family: str
    defect_class: str
    count: int


class FamilyStatsOut(BaseModel):
    rows: list[FamilyClassCount]
    totals: dict[str, int] = Field(description="defects per part family")
    cycles: dict[str, dict[str, int]] = Field(description="cycles and blades recorded per part family")
