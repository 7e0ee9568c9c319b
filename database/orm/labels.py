"""Labels from review: every correction a quality engineer makes, and frozen dataset snapshots.

A correction never changes an earlier row: it records who, when, which detection (and the model that
made it), what was done, and the annotation (capture image + full class-index mask) that results. Two
corrections that yield the same mask share one annotation (annotations are unique per image + mask).
A snapshot is a frozen list of (capture, mask) pairs with the SHA-256 of its canonical JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, CorrectionKind, UTCDateTime, str_enum, utcnow


class LabelCorrection(Base):
    __tablename__ = "label_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    part_family_id: Mapped[int] = mapped_column(ForeignKey("part_families.id"), index=True)
    capture_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("captures.id", ondelete="SET NULL"), index=True
    )
    defect_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("defects.id", ondelete="SET NULL"), index=True
    )
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    annotation_id: Mapped[int] = mapped_column(ForeignKey("annotations.id"), index=True)
    kind: Mapped[CorrectionKind] = mapped_column(str_enum(CorrectionKind, "correction_kind"))
    from_class: Mapped[str | None] = mapped_column(String(40))
    to_class: Mapped[str | None] = mapped_column(String(40))
    changed_pixels: Mapped[int] = mapped_column(Integer, default=0)
    added_pixels: Mapped[int] = mapped_column(Integer, default=0)  # background -> defect: a miss
    removed_pixels: Mapped[int] = mapped_column(Integer, default=0)  # defect -> background
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatasetSnapshot(Base):
    __tablename__ = "dataset_snapshots"
    __table_args__ = (UniqueConstraint("part_family_id", "content_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    part_family_id: Mapped[int] = mapped_column(ForeignKey("part_families.id"), index=True)
    content_sha256: Mapped[str] = mapped_column(String(64))
    class_names: Mapped[list[str]] = mapped_column(JSON)
    channels: Mapped[list[str]] = mapped_column(JSON)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    sample_count: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
