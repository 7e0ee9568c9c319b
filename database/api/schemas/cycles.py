"""Starting cycles, their status, and recorded inspection detail."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ...orm import CycleState, RequestState, Verdict
from ...patterns import CODE_PATTERN, SERIAL_PATTERN
from .common import OrmModel


class CycleOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force_redesign: StrictBool = Field(
        default=False, description="design a new model even if one is deployed"
    )


class CycleStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blade_serial: str = Field(pattern=SERIAL_PATTERN, examples=["SN-000123"])
    part_family: str = Field(pattern=CODE_PATTERN, examples=["HPT1-B"])
    cell: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="None: any cell")
    options: CycleOptions = Field(default_factory=CycleOptions)


class CycleStatusOut(OrmModel):
    request_uuid: uuid.UUID
    blade_serial: str
    part_family: str
    cell: str | None
    options: dict[str, object]
    state: RequestState
    claimed_by: str | None
    progress: str
    error: str | None
    requested_by: str | None
    created_at: datetime
    claimed_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    cycle_id: int | None = Field(description="the recorded cycle, once recorded")
    cycle_uuid: uuid.UUID | None = Field(default=None, description="its uuid, once recorded")
    verdict: str | None
    defect_count: int | None


class FrameOut(OrmModel):
    channel: str
    path: str
    sha256: str
    exposure_ms: float
    gain: float


class CaptureOut(OrmModel):
    id: int
    viewpoint_index: int
    stage_pose: list[float]
    width: int
    height: int
    mask_path: str | None
    mask_sha256: str | None
    captured_at: datetime
    frames: list[FrameOut]


class InspectionOut(BaseModel):
    id: int
    cycle_uuid: uuid.UUID
    blade_serial: str
    part_family: str
    cell: str
    operator: str
    state: CycleState
    verdict: Verdict
    started_at: datetime
    finished_at: datetime
    duration_s: float
    stage_timings: dict[str, float]
    model_version: str | None
    defect_count: int
    request_uuid: uuid.UUID | None
    captures: list[CaptureOut]
