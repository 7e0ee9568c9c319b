"""Defect search: filters, sorting and keyset pagination over the (large) defects table.

Pagination is keyset ("seek"), not OFFSET: the cursor carries the last row's sort value and id, and
the next page is `WHERE (sort_col, id) < (value, id) ORDER BY sort_col DESC, id DESC LIMIT n`. With
the `(filter_col, detected_at, id)` indexes each page costs O(page size) at any depth, and pages stay
stable while cells keep inserting new defects (OFFSET would shift and re-show rows, and page 10,000
would read 500,000 rows first). A total count is optional because counting a million matches costs
more than the page itself.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import ColumnElement, Select, bindparam, func, select, tuple_
from sqlalchemy.orm import Session, aliased

from ..errors import InvalidInputError
from ..orm import Blade, Defect, DetectionModel, PartFamily, ReviewStatus
from ..serials import normalize_serial

SORT_FIELDS: dict[str, Any] = {
    "detected_at": Defect.detected_at,
    "area_mm2": Defect.area_mm2,
    "confidence": Defect.confidence,
    "id": Defect.id,
}
DEFAULT_SORT = "-detected_at"
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)


class DefectFilter(BaseModel):
    """Every filter of the defect search; all optional, combined with AND."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blade_serial: str | None = Field(default=None, max_length=64)
    part_family: str | None = Field(default=None, max_length=64)
    defect_class: tuple[str, ...] = Field(default=(), max_length=20)
    min_area_mm2: float | None = Field(default=None, ge=0, le=1e9)
    max_area_mm2: float | None = Field(default=None, ge=0, le=1e9)
    min_confidence: float | None = Field(default=None, ge=0, le=1)
    max_confidence: float | None = Field(default=None, ge=0, le=1)
    detected_from: datetime | None = None
    detected_to: datetime | None = None
    cell: str | None = Field(default=None, max_length=64)
    model_version: str | None = Field(default=None, max_length=64)
    review_status: tuple[ReviewStatus, ...] = Field(default=(), max_length=3)

    @field_validator("blade_serial")
    @classmethod
    def _serial(cls, value: str | None) -> str | None:
        """Any variant of a serial finds its blade; text that cannot be a serial finds nothing."""
        if value is None:
            return None
        try:
            return normalize_serial(value)
        except InvalidInputError:
            return value  # no stored (normalised) serial equals it: an empty result

    @field_validator("detected_from", "detected_to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_utc_in_range(value)

    @model_validator(mode="after")
    def _ranges(self) -> DefectFilter:
        for low, high in (
            ("min_area_mm2", "max_area_mm2"),
            ("min_confidence", "max_confidence"),
            ("detected_from", "detected_to"),
        ):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{low} ({lo}) is greater than {high} ({hi})")
        return self


def to_utc_in_range(value: datetime) -> datetime:
    """`value` in UTC (naive times are read as UTC, as the API documents), within the searchable range.

    The bounds keep every conversion and the week arithmetic of the statistics inside what `datetime`
    and both backends can represent: 9999-12-31T23:59:59-00:01 has no UTC datetime at all.
    """
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_TIME <= utc <= LATEST_TIME:
        raise ValueError(
            f"{value.isoformat()} is outside the searchable range: give a time between "
            f"{EARLIEST_TIME:%Y-%m-%d} and {LATEST_TIME:%Y-%m-%d} UTC"
        )
    return utc


@dataclass(frozen=True)
class SortSpec:
    field: str
    descending: bool

    @classmethod
    def parse(cls, text: str) -> SortSpec:
        descending = text.startswith("-")
        name = text.lstrip("-+")
        if name not in SORT_FIELDS:
            raise InvalidInputError(
                "sort", f"unknown sort field {name!r}; choose one of {sorted(SORT_FIELDS)}"
            )
        return cls(name, descending)

    def __str__(self) -> str:
        return f"{'-' if self.descending else ''}{self.field}"


def encode_cursor(sort: SortSpec, value: Any, row_id: int) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat()
    payload = json.dumps({"s": str(sort), "v": value, "i": row_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: SortSpec) -> tuple[Any, int]:
    """The (sort value, id) a cursor points after; 422-style errors for anything malformed."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        issued_for, value, row_id = payload["s"], payload["v"], payload["i"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            "cursor", "malformed cursor; pass back the next_cursor of a previous page"
        ) from exc
    if issued_for != str(sort):
        raise InvalidInputError("cursor", f"cursor was issued for sort {issued_for!r}, not {str(sort)!r}")
    if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 <= row_id < 2**63:
        raise InvalidInputError("cursor", "malformed cursor id")
    try:
        if sort.field == "detected_at":
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError("naive")
        elif sort.field == "id":
            value = int(value)
        else:
            value = float(value)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("not finite")
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInputError("cursor", "malformed cursor value") from exc
    return value, row_id


def _resolve_id(session: Session, column: Any, key_column: Any, key: str) -> int | None:
    return session.scalar(select(column).where(key_column == key))


def filter_conditions(session: Session, filters: DefectFilter) -> list[ColumnElement[bool]] | None:
    """WHERE conditions on the defects table alone; None when a named blade/family/model doesn't exist
    (the result is empty, so the caller need not query at all)."""
    conditions: list[ColumnElement[bool]] = []
    for value, column, lookup, key in (
        (filters.blade_serial, Defect.blade_id, Blade.id, Blade.serial),
        (filters.part_family, Defect.part_family_id, PartFamily.id, PartFamily.code),
        (filters.model_version, Defect.model_id, DetectionModel.id, DetectionModel.version),
    ):
        if value is not None:
            resolved = _resolve_id(session, lookup, key, value)
            if resolved is None:
                return None
            conditions.append(column == resolved)
    if filters.defect_class:
        conditions.append(Defect.defect_class.in_(filters.defect_class))
    if filters.review_status:
        conditions.append(Defect.review_status.in_(filters.review_status))
    if filters.cell is not None:
        conditions.append(Defect.cell == filters.cell)
    for bound, column, op in (
        (filters.min_area_mm2, Defect.area_mm2, "ge"),
        (filters.max_area_mm2, Defect.area_mm2, "le"),
        (filters.min_confidence, Defect.confidence, "ge"),
        (filters.max_confidence, Defect.confidence, "le"),
        (filters.detected_from, Defect.detected_at, "ge"),
        (filters.detected_to, Defect.detected_at, "lt"),
    ):
        if bound is not None:
            conditions.append(getattr(column, f"__{op}__")(bound))
    return conditions


@dataclass(frozen=True)
class DefectRow:
    defect: Defect
    blade_serial: str
    part_family: str
    model_version: str | None


@dataclass(frozen=True)
class DefectPage:
    items: list[DefectRow]
    next_cursor: str | None
    limit: int
    sort: str
    total: int | None


def ordered(query: Select[Any], sort: SortSpec, entity: Any = Defect) -> Select[Any]:
    column = getattr(entity, SORT_FIELDS[sort.field].key)
    if sort.field == "id":
        return query.order_by(column.desc() if sort.descending else column.asc())
    if sort.descending:
        return query.order_by(column.desc(), entity.id.desc())
    return query.order_by(column.asc(), entity.id.asc())


def page_query(
    session: Session, filters: DefectFilter, sort: SortSpec, limit: int, cursor: str | None = None
) -> Select[Any] | None:
    """The SELECT for one page (limit + 1 rows, to know whether another page follows); None when a
    named blade/family/model does not exist. Exposed so benchmarks can EXPLAIN exactly what runs."""
    after_row = decode_cursor(cursor, sort) if cursor else None  # a malformed cursor is a 422 in any case
    conditions = filter_conditions(session, filters)
    if conditions is None:
        return None
    if after_row is not None:
        value, last_id = after_row
        column = SORT_FIELDS[sort.field]
        if sort.field == "id":
            conditions.append(Defect.id < last_id if sort.descending else Defect.id > last_id)
        else:
            after = tuple_(
                bindparam(None, value, type_=column.type), bindparam(None, last_id, type_=Defect.id.type)
            )
            key = tuple_(column, Defect.id)
            conditions.append(key < after if sort.descending else key > after)
    # Page the defects table alone first (index order + LIMIT), then join the few rows' labels.
    page = ordered(select(Defect).where(*conditions), sort).limit(limit + 1).subquery("page")
    paged = aliased(Defect, page)
    return ordered(
        select(paged, Blade.serial, PartFamily.code, DetectionModel.version)
        .join(Blade, Blade.id == paged.blade_id)
        .join(PartFamily, PartFamily.id == paged.part_family_id)
        .outerjoin(DetectionModel, DetectionModel.id == paged.model_id),
        sort,
        paged,
    )


def count_query(session: Session, filters: DefectFilter) -> Select[Any] | None:
    conditions = filter_conditions(session, filters)
    if conditions is None:
        return None
    return select(func.count()).select_from(Defect).where(*conditions)


def search_defects(
    session: Session,
    filters: DefectFilter,
    sort: SortSpec,
    limit: int,
    cursor: str | None = None,
    include_total: bool = False,
) -> DefectPage:
    query = page_query(session, filters, sort, limit, cursor)
    if query is None:
        return DefectPage([], None, limit, str(sort), 0 if include_total else None)
    total = session.scalar(count_query(session, filters)) if include_total else None
    rows = [DefectRow(d, serial, code, version) for d, serial, code, version in session.execute(query)]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1].defect
        next_cursor = encode_cursor(sort, getattr(last, sort.field), last.id)
    return DefectPage(rows, next_cursor, limit, str(sort), total)
