"""Training annotations: an image and its class-index mask (imported or drawn), per part family."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import AnnotationSource, Base, UTCDateTime, str_enum, utcnow


class Annotation(Base):
    __tablename__ = "annotations"
    __table_args__ = (UniqueConstraint("image_sha256", "mask_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    part_family_id: Mapped[int] = mapped_column(ForeignKey("part_families.id"), index=True)
    blade_id: Mapped[int | None] = mapped_column(ForeignKey("blades.id"), index=True)
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id", ondelete="SET NULL"), index=True)
    image_path: Mapped[str] = mapped_column(String(512))
    image_sha256: Mapped[str] = mapped_column(String(64))
    mask_path: Mapped[str] = mapped_column(String(512))
    mask_sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    class_names: Mapped[list[str]] = mapped_column(JSON)  # index i -> name; 0 is background
    classes_present: Mapped[list[str]] = mapped_column(JSON)
    source: Mapped[AnnotationSource] = mapped_column(str_enum(AnnotationSource, "annotation_source"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
