"""The model registry: every defect network designed for a part family, with its provenance.

At most one model per part family is `deployed` (a partial unique index enforces it on both backends).
Revision 0005 adds the model's life after its first design: lineage (designed, retrained from a
parent, or reused from another family's architecture; the snapshot it was trained on), the events
(registered, promoted, rolled back, retired; who and why), health checks (the redesign triggers) and
each family's trigger thresholds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, HealthLevel, ModelAction, ModelOrigin, ModelStatus, UTCDateTime, str_enum, utcnow


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


class ModelLineage(Base):
    """Where a model came from; one row per model registered since revision 0005."""

    __tablename__ = "model_lineage"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    origin: Mapped[ModelOrigin] = mapped_column(str_enum(ModelOrigin, "model_origin"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_snapshots.id"))
    class_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    input_stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # channel -> mean/std


class ModelEvent(Base):
    """Who did what to which model: registered, promoted, rolled back, retired."""

    __tablename__ = "model_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    part_family_id: Mapped[int] = mapped_column(ForeignKey("part_families.id"), index=True)
    action: Mapped[ModelAction] = mapped_column(str_enum(ModelAction, "model_action"))
    previous_model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelHealthCheck(Base):
    """One evaluation of the redesign triggers for a family's deployed model, with its figures."""

    __tablename__ = "model_health_checks"
    __table_args__ = (Index("ix_model_health_checks_family_created", "part_family_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    part_family_id: Mapped[int] = mapped_column(ForeignKey("part_families.id"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"))
    level: Mapped[HealthLevel] = mapped_column(str_enum(HealthLevel, "health_level"))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelPolicy(Base):
    """A family's trigger thresholds and promotion tolerance (defaults in `services.model_life`)."""

    __tablename__ = "model_policies"

    part_family_id: Mapped[int] = mapped_column(ForeignKey("part_families.id"), primary_key=True)
    thresholds: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
