"""Defect search parameters (a query-parameter model: unknown parameters are a 422) and results."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ...orm import ReviewStatus
from ...services.defect_search import DefectFilter, SortSpec, to_utc_in_range
from ...services.recording import CLASS_PATTERN
from .common import NO_NUL, OrmModel

MAX_PAGE_SIZE = 500
TIME_RULE = "naive times are UTC; from 1900-01-01 to 9000-01-01 UTC"
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
SortField = Literal[
    "detected_at", "-detected_at", "area_mm2", "-area_mm2", "confidence", "-confidence", "id", "-id"
]


class DefectFilterParams(BaseModel):
    """Filters shared by search, export and statistics; all optional, combined with AND.

    Ranges must not be inverted (min_* <= max_*, detected_from <= detected_to); an inverted range is a
    422 naming both parameters.
    """

    model_config = ConfigDict(extra="forbid")

    blade_serial: str | None = Field(default=None, max_length=64, pattern=NO_NUL, description="exact serial")
    part_family: str | None = Field(
        default=None, max_length=64, pattern=NO_NUL, description="part family code"
    )
    defect_class: list[Annotated[str, Field(pattern=CLASS_PATTERN)]] = Field(
        default_factory=list, max_length=20, description="one or more classes (repeat the parameter)"
    )
    min_area_mm2: float | None = Field(default=None, ge=0, le=1e9)
    max_area_mm2: float | None = Field(default=None, ge=0, le=1e9)
    min_confidence: float | None = Field(default=None, ge=0, le=1)
    max_confidence: float | None = Field(default=None, ge=0, le=1)
    detected_from: datetime | None = Field(default=None, description=f"inclusive; {TIME_RULE}")
    detected_to: datetime | None = Field(default=None, description=f"exclusive; {TIME_RULE}")
    cell: str | None = Field(default=None, max_length=64, pattern=NO_NUL)
    model_version: str | None = Field(default=None, max_length=64, pattern=NO_NUL)
    review_status: list[ReviewStatus] = Field(default_factory=list, max_length=3)

    @field_validator("detected_from", "detected_to", mode="before")
    @classmethod
    def _iso_datetime(cls, value: object) -> object:
        """Only ISO 8601 date-times (pydantic alone would also take '0.5' as a Unix timestamp)."""
        if isinstance(value, str) and not ISO_DATETIME.match(value):
            raise ValueError("expected an ISO 8601 date and time, e.g. 2026-10-01T00:00:00Z")
        return value

    @field_validator("detected_from", "detected_to", mode="after")
    @classmethod
    def _in_range(cls, value: datetime | None) -> datetime | None:
        """A 422 naming the field for times outside the searchable range (the filter's own rule)."""
        return None if value is None else to_utc_in_range(value)

    @model_validator(mode="after")
    def _check(self) -> DefectFilterParams:
        try:
            self.to_filter()
        except ValidationError as exc:
            raise ValueError(
                "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            ) from None
        return self

    def to_filter(self) -> DefectFilter:
        data = self.model_dump(include=set(DefectFilter.model_fields))
        data["defect_class"] = tuple(self.defect_class)
        data["review_status"] = tuple(self.review_status)
        return DefectFilter(**data)


class DefectSortParams(DefectFilterParams):
    sort: SortField = Field(default="-detected_at", description="field, '-' prefix for descending")

    def sort_spec(self) -> SortSpec:
        return SortSpec.parse(self.sort)


class DefectSearchParams(DefectSortParams):
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE, description=f"page size, at most {MAX_PAGE_SIZE}")
    cursor: str | None = Field(default=None, max_length=512, description="next_cursor of the previous page")
    include_total: bool = Field(default=False, description="also count all matches (slower on big results)")


class DefectSummaryOut(BaseModel):
    id: int
    blade_serial: str
    part_family: str
    cycle_id: int
    capture_id: int
    cell: str
    detected_at: datetime
    defect_class: str
    confidence: float
    pixel_area: int
    area_mm2: float
    bbox: tuple[int, int, int, int]
    blade_region: str | None
    model_version: str | None
    review_status: ReviewStatus


class DefectPageOut(BaseModel):
    items: list[DefectSummaryOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
    limit: int
    sort: str
    total: int | None = Field(description="number of matches, when include_total=true")


class FrameRef(OrmModel):
    channel: str
    sha256: str
    exposure_ms: float
    gain: float


class DefectDetailOut(DefectSummaryOut):
    cycle_uuid: str
    verdict: str
    contour: list[list[int]]
    location_mm: tuple[float, float, float] | None
    viewpoint_index: int
    stage_pose: list[float]
    capture_size: tuple[int, int]
    channels: list[FrameRef]
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None
    overlay_url: str
    capture_url: str


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    review_status: ReviewStatus
    note: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)


class ReviewOut(OrmModel):
    id: int
    review_status: ReviewStatus
    review_note: str | None
    reviewed_at: datetime | None
