"""CSV export of a defect search, streamed in batches so a million rows never sit in memory.

The generator opens its own session (the request's session ends before a streamed body is sent),
reads with a server-side cursor on PostgreSQL, and yields CSV text a batch at a time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..orm import Blade, Defect, DetectionModel, PartFamily
from .defect_search import DefectFilter, SortSpec, filter_conditions, ordered

CSV_COLUMNS = (
    "defect_id",
    "blade_serial",
    "part_family",
    "cycle_id",
    "capture_id",
    "cell",
    "detected_at",
    "defect_class",
    "confidence",
    "pixel_area",
    "area_mm2",
    "bbox_x",
    "bbox_y",
    "bbox_w",
    "bbox_h",
    "location_x_mm",
    "location_y_mm",
    "location_z_mm",
    "blade_region",
    "model_version",
    "review_status",
)
BATCH_ROWS = 2000


def _safe_cell(value: object) -> object:
    """Neutralise spreadsheet formula injection in text cells (=, +, -, @ at the start)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _columns() -> list:
    return [
        Defect.id,
        Blade.serial,
        PartFamily.code,
        Defect.cycle_id,
        Defect.capture_id,
        Defect.cell,
        Defect.detected_at,
        Defect.defect_class,
        Defect.confidence,
        Defect.pixel_area,
        Defect.area_mm2,
        Defect.bbox_x,
        Defect.bbox_y,
        Defect.bbox_w,
        Defect.bbox_h,
        Defect.location_x_mm,
        Defect.location_y_mm,
        Defect.location_z_mm,
        Defect.blade_region,
        DetectionModel.version,
        Defect.review_status,
    ]


def _csv_row(row: Any) -> list[object]:
    values = list(row)
    values[6] = values[6].isoformat()  # detected_at
    values[8] = f"{values[8]:.4f}"  # confidence
    values[10] = f"{values[10]:.4f}"  # area_mm2
    values[20] = values[20].value  # review status
    return [_safe_cell(v if v is not None else "") for v in values]


def iter_defects_csv(
    factory: sessionmaker[Session], filters: DefectFilter, sort: SortSpec, row_limit: int
) -> Iterator[str]:
    """CSV text of the matching defects: the header, then one chunk per batch of `BATCH_ROWS` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    with factory() as session:
        conditions = filter_conditions(session, filters)
        if conditions is not None:
            query = ordered(
                select(*_columns())
                .join(Blade, Blade.id == Defect.blade_id)
                .join(PartFamily, PartFamily.id == Defect.part_family_id)
                .outerjoin(DetectionModel, DetectionModel.id == Defect.model_id)
                .where(*conditions),
                sort,
            ).limit(row_limit)
            result = session.execute(query.execution_options(stream_results=True, yield_per=BATCH_ROWS))
            for rows in result.partitions():
                writer.writerows(_csv_row(row) for row in rows)
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()
