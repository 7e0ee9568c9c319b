"""Detected defects: the table quality engineers search, up to millions of rows.

Blade, part family, cell, model and detection time are copied from the cycle onto each defect when it
is recorded (they never change afterwards). That lets every search filter be answered by one composite
index `(<filter column>, detected_at, id)` without joins, and lets keyset pagination walk the same
index in sort order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, ReviewStatus, UTCDateTime, str_enum

# Filter columns that get a `(column, detected_at, id)` index; see benchmarks/db_search.py for the plans.
SEARCH_INDEX_COLUMNS = ("blade_id", "part_family_id", "defect_class", "model_id", "review_status", "cell")
# Revision 0007, chosen with the load figure of benchmarks/db_search.py: a search sorted by size or
# confidence walked the table-wide (area_mm2, id) / (confidence, id) index in sort order and filtered
# family, class and dates row by row (100k rows and 300-500 ms for a family + class + month search).
# Family + class + sort column answers one class in sort order from the index; family + sort column
# serves several classes (PostgreSQL 15 cannot merge an IN list in index order) at a fifth of the walk.
FAMILY_SORT_INDEXES = {
    "ix_defects_family_class_area_mm2": ["part_family_id", "defect_class", "area_mm2", "id"],
    "ix_defects_family_area_mm2": ["part_family_id", "area_mm2", "id"],
    "ix_defects_family_class_confidence": ["part_family_id", "defect_class", "confidence", "id"],
    "ix_defects_family_confidence": ["part_family_id", "confidence", "id"],
}


class Defect(Base):
    __tablename__ = "defects"
    __table_args__ = (
        Index("ix_defects_detected_at_id", "detected_at", "id"),
        Index("ix_defects_area_mm2_id", "area_mm2", "id"),
        Index("ix_defects_confidence_id", "confidence", "id"),
        *(Index(f"ix_defects_{col}_detected_at", col, "detected_at", "id") for col in SEARCH_INDEX_COLUMNS),
        # Revision 0002, chosen with benchmarks/db_search.py: the engineers' usual query, family + class
        # (+ dates) newest first, answered (and counted) from one index; and model + class, because a
        # model's defects all lie in its deployment period, which misleads the planner into walking the
        # detected_at index backwards through every newer row.
        Index("ix_defects_family_class_detected_at", "part_family_id", "defect_class", "detected_at", "id"),
        Index("ix_defects_model_class_detected_at", "model_id", "defect_class", "detected_at", "id"),
        *(Index(name, *columns) for name, columns in FAMILY_SORT_INDEXES.items()),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("inspection_cycles.id", ondelete="CASCADE"), index=True)
    capture_id: Mapped[int] = mapped_column(ForeignKey("captures.id", ondelete="CASCADE"), index=True)
    blade_id: Mapped[int] = mapped_column(ForeignKey("blades.id"))
    part_family_id: Mapped[int] = mapped_column(ForeignKey("part_families.id"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    cell: Mapped[str] = mapped_column(String(64))
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)

    defect_class: Mapped[str] = mapped_column(String(40))
    confidence: Mapped[float] = mapped_column(Float)
    pixel_area: Mapped[int] = mapped_column(Integer)
    area_mm2: Mapped[float] = mapped_column(Float)
    bbox_x: Mapped[int] = mapped_column(Integer)
    bbox_y: Mapped[int] = mapped_column(Integer)
    bbox_w: Mapped[int] = mapped_column(Integer)
    bbox_h: Mapped[int] = mapped_column(Integer)
    contour: Mapped[list[list[int]]] = mapped_column(JSON)  # [[x, y], ...] in capture pixels
    location_x_mm: Mapped[float | None] = mapped_column(Float)  # blade frame
    location_y_mm: Mapped[float | None] = mapped_column(Float)
    location_z_mm: Mapped[float | None] = mapped_column(Float)
    blade_region: Mapped[str | None] = mapped_column(String(64))

    review_status: Mapped[ReviewStatus] = mapped_column(
        str_enum(ReviewStatus, "review_status"), default=ReviewStatus.UNREVIEWED
    )
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
