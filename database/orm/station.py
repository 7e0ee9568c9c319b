"""What the technician's station and the blade map read: cycle progress events and blade models.

`CycleEvent` rows are the cell's progress as the coordinator reports it (throttled); the API streams
them to the station page as Server-Sent Events, resuming after the last id a browser saw, so a page
that lost its stream catches up from the table instead of missing a state. `BladeModel` is a part
family's blade surface (a compact binary mesh in the content store, millimetres, blade frame) with
the camera poses of its scan plan, which the blade map draws as frusta.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime, utcnow


class CycleEvent(Base):
    """One progress report of a cell: a state change, a stored capture, an e-stop, a verdict."""

    __tablename__ = "cycle_events"
    __table_args__ = (Index("ix_cycle_events_cell_id", "cell", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cell: Mapped[str] = mapped_column(String(64))
    cycle_id: Mapped[str] = mapped_column(String(64), index=True)  # the runner's cycle uuid hex
    request_uuid: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    blade_serial: Mapped[str] = mapped_column(String(64))
    part_family: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # state | progress | estop | reset | end
    state: Mapped[str] = mapped_column(String(16))  # the cell's cycle state (LOADING, SCANNING, ...)
    viewpoint_index: Mapped[int] = mapped_column(Integer, default=0)  # captures stored so far
    viewpoint_count: Mapped[int] = mapped_column(Integer, default=0)
    fraction: Mapped[float] = mapped_column(Float, default=0.0)
    elapsed_s: Mapped[float] = mapped_column(Float, default=0.0)
    eta_s: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(String(500), default="")
    preview_sha256: Mapped[str | None] = mapped_column(String(64))  # latest capture's frame file
    preview_channel: Mapped[str | None] = mapped_column(String(32))
    estop: Mapped[bool] = mapped_column(Boolean, default=False)
    verdict: Mapped[str | None] = mapped_column(String(16))
    defect_count: Mapped[int | None] = mapped_column(Integer)
    record_id: Mapped[int | None] = mapped_column(Integer)  # the recorded inspection cycle, at the end
    # At the end: the defects that rejected the blade, [{"defect_class", "area_mm2", "viewpoint_index",
    # "reason"}], as the cell's acceptance rules judged them.
    rejecting: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BladeModel(Base):
    """A part family's blade surface as the web pages draw it, and its scan plan's camera poses."""

    __tablename__ = "blade_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    part_family_id: Mapped[int] = mapped_column(ForeignKey("part_families.id"), unique=True)
    mesh_path: Mapped[str] = mapped_column(String(512))
    mesh_sha256: Mapped[str] = mapped_column(String(64))
    vertex_count: Mapped[int] = mapped_column(Integer)
    face_count: Mapped[int] = mapped_column(Integer)
    # [{"index": i, "position": [x, y, z] mm, "forward": [...], "up": [...]}] in the blade frame
    viewpoints: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    camera: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # fov_x_deg, fov_y_deg, distance_mm
    source: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
