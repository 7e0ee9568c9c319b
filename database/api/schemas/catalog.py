"""Part families, blades and blade history."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ...patterns import CODE_PATTERN, SERIAL_PATTERN
from .common import NO_NUL, OrmModel


class PartFamilyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN, examples=["HPT1-B"])
    name: str = Field(default="", max_length=200, pattern=NO_NUL)


class PartFamilyOut(OrmModel):
    id: int
    code: str
    name: str
    created_at: datetime


class BladeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial: str = Field(pattern=SERIAL_PATTERN, examples=["SN-000123"])
    part_family: str = Field(pattern=CODE_PATTERN, examples=["HPT1-B"])


class BladeOut(BaseModel):
    id: int
    serial: str
    part_family: str
    created_at: datetime


class CycleSummaryOut(OrmModel):
    id: int
    cycle_uuid: str
    cell: str
    operator: str
    state: str
    verdict: str
    started_at: datetime
    finished_at: datetime
    duration_s: float
    model_version: str | None
    defect_count: int
    defects_by_class: dict[str, int]


class BladeHistoryOut(BaseModel):
    blade: BladeOut
    cycles: list[CycleSummaryOut]
