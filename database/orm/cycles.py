"""Inspection cycles: the request queue the cell polls, recorded cycles and their captures.

A request is what a technician asked for; a cycle is what the cell did (written once, at RECORDING,
in one transaction keyed by `cycle_uuid`). Captures hold file paths and content hashes, never pixels.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigId, CycleState, RequestState, UTCDateTime, Verdict, str_enum, utcnow

ACTIVE_REQUEST_SQL = "state IN ('queued', 'claimed', 'running')"


class CycleRequest(Base):
    """A queued request to inspect one blade; the coordinator claims it, runs it, reports back."""

    __tablename__ = "cycle_requests"
    __table_args__ = (
        Index("ix_cycle_requests_state_created", "state", "created_at"),
        # One active (queued, claimed or running) request per blade, on both backends: concurrent
        # starts for one blade cannot both pass the service's check (migration 0003).
        Index(
            "uq_cycle_requests_one_active_per_blade",
            "blade_serial",
            unique=True,
            sqlite_where=text(ACTIVE_REQUEST_SQL),
            postgresql_where=text(ACTIVE_REQUEST_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_uuid: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    blade_serial: Mapped[str] = mapped_column(String(64))
    part_family_code: Mapped[str] = mapped_column(String(64))
    cell: Mapped[str | None] = mapped_column(String(64))  # None: any cell may take it
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    state: Mapped[RequestState] = mapped_column(
        str_enum(RequestState, "request_state"), default=RequestState.QUEUED
    )
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    progress: Mapped[str] = mapped_column(String(200), default="")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InspectionCycle(Base):
    """One completed (or faulted) inspection of one blade, with its verdict and timing."""

    __tablename__ = "inspection_cycles"
    __table_args__ = (Index("ix_inspection_cycles_blade_started", "blade_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_uuid: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    blade_id: Mapped[int] = mapped_column(ForeignKey("blades.id"))
    # Not unique: a faulted cycle and its resumed completion can both answer one request.
    request_id: Mapped[int | None] = mapped_column(ForeignKey("cycle_requests.id"), index=True)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"), index=True)
    cell: Mapped[str] = mapped_column(String(64))
    operator: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[CycleState] = mapped_column(str_enum(CycleState, "cycle_state"))
    verdict: Mapped[Verdict] = mapped_column(str_enum(Verdict, "verdict"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_s: Mapped[float] = mapped_column(Float)
    stage_timings: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    defect_count: Mapped[int] = mapped_column(Integer, default=0)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    captures: Mapped[list[Capture]] = relationship(
        back_populates="cycle", cascade="all, delete-orphan", order_by="Capture.viewpoint_index"
    )


class Capture(Base):
    """One multispectral capture at one viewpoint: one frame per light channel."""

    __tablename__ = "captures"
    __table_args__ = (UniqueConstraint("cycle_id", "viewpoint_index"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("inspection_cycles.id", ondelete="CASCADE"))
    viewpoint_index: Mapped[int] = mapped_column(Integer)
    stage_pose: Mapped[list[float]] = mapped_column(JSON)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    mask_path: Mapped[str | None] = mapped_column(String(512))  # detector's class-index mask
    mask_sha256: Mapped[str | None] = mapped_column(String(64))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    cycle: Mapped[InspectionCycle] = relationship(back_populates="captures")
    frames: Mapped[list[CaptureFrame]] = relationship(
        back_populates="capture", cascade="all, delete-orphan", order_by="CaptureFrame.id"
    )


class CaptureFrame(Base):
    """One channel's image file of a capture, addressed by its content hash."""

    __tablename__ = "capture_frames"
    __table_args__ = (UniqueConstraint("capture_id", "channel"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    capture_id: Mapped[int] = mapped_column(ForeignKey("captures.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    exposure_ms: Mapped[float] = mapped_column(Float)
    gain: Mapped[float] = mapped_column(Float, default=1.0)

    capture: Mapped[Capture] = relationship(back_populates="frames")
