"""The model registry: every defect network designed for a part family, with its provenance.

At most one model per part family is `deployed` (a partial unique index enforces it on both backends).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, ModelStatus, UTCDateTime, str_enum, utcnow


class DetectionModel(Base):
    __tablename__ = "models"
    __table_args__ = (
        Index(
            "uq_models_one_deployed_per_family",
            "part_family_id",
            unique=True,
            sqlite_where=text("status = 'deployed'"),
            postgresql_where=text("status = 'deployed'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    part_family_id: Mapped[int] = mapped_column(ForeignKey("part_families.id"), index=True)
    status: Mapped[ModelStatus] = mapped_column(
        str_enum(ModelStatus, "model_status"), default=ModelStatus.CANDIDATE
    )
    architecture: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    latency_device: Mapped[str] = mapped_column(String(100), default="")
    weights_path: Mapped[str] = mapped_column(String(512))
    weights_sha256: Mapped[str | None] = mapped_column(String(64))
    dataset_snapshot: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deployed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
