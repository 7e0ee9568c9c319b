"""What is inspected: part families (a blade design) and individual blades (by serial number)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class PartFamily(Base):
    """A blade design (e.g. one HPT stage-1 blade part number); models are designed per family."""

    __tablename__ = "part_families"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Blade(Base):
    """One physical blade. Serial numbers are unique across the plant."""

    __tablename__ = "blades"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    part_family_id: Mapped[int] = mapped_column(ForeignKey("part_families.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
