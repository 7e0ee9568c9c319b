"""The technician's station and the blade map: progress events, blade models, defect maps, the cell."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ...patterns import CODE_PATTERN, SERIAL_PATTERN
from .common import OrmModel

EventKind = Literal["state", "progress", "estop", "reset", "end"]


class RejectingDefect(BaseModel):
    defect_class: str
    area_mm2: float
    viewpoint_index: int | None = None
    reason: str


class CycleEventIn(BaseModel):
    """One progress report of a cell, as the coordinator writes it (`services.progress.ProgressLog`)."""

    model_config = ConfigDict(extra="forbid")

    cell: str = Field(max_length=64)
    cycle_id: str = Field(default="", max_length=64)
    request_uuid: uuid.UUID | None = None
    blade_serial: str = Field(default="", max_length=64)
    part_family: str = Field(default="", max_length=64)
    kind: EventKind
    state: str = Field(max_length=16)
    viewpoint_index: int = Field(default=0, ge=0)
    viewpoint_count: int = Field(default=0, ge=0)
    fraction: float = Field(default=0.0, ge=0, le=1)
    elapsed_s: float = Field(default=0.0, ge=0)
    eta_s: float | None = Field(default=None, ge=0)
    message: str = Field(default="", max_length=500)
    preview_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    preview_channel: str | None = Field(default=None, max_length=32)
    estop: bool = False
    verdict: str | None = Field(default=None, max_length=16)
    defect_count: int | None = None
    record_id: int | None = None
    rejecting: list[RejectingDefect] = Field(default_factory=list)


class CycleEventOut(OrmModel):
    id: int
    cell: str
    cycle_id: str
    request_uuid: uuid.UUID | None
    blade_serial: str
    part_family: str
    kind: str
    state: str
    viewpoint_index: int
    viewpoint_count: int
    fraction: float
    elapsed_s: float
    eta_s: float | None
    message: str
    preview_channel: str | None
    preview_url: str | None = Field(default=None, description="the latest capture's frame (PNG)")
    estop: bool
    verdict: str | None
    defect_count: int | None
    record_id: int | None
    rejecting: list[RejectingDefect]
    created_at: datetime


class StationFamilyOut(BaseModel):
    code: str
    name: str
    deployed_model: str | None = Field(description="None: the first cycle designs the family's model")
    has_blade_model: bool


class ViewpointPose(BaseModel):
    """A scan viewpoint's camera in the blade frame (mm): where it is and where it looks."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    position: list[float] = Field(min_length=3, max_length=3)
    forward: list[float] = Field(min_length=3, max_length=3)
    up: list[float] = Field(min_length=3, max_length=3)


class CameraFrustum(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fov_x_deg: float = Field(gt=0, lt=180)
    fov_y_deg: float = Field(gt=0, lt=180)
    distance_mm: float = Field(gt=0)


class BladeModelOut(BaseModel):
    part_family: str
    vertex_count: int
    face_count: int
    mesh_url: str
    mesh_sha256: str
    source: str
    camera: CameraFrustum | None
    viewpoints: list[ViewpointPose]
    updated_at: datetime


class MapDefect(BaseModel):
    id: int
    defect_class: str
    area_mm2: float
    confidence: float
    location_mm: list[float] | None = Field(description="blade frame; None when the pose was unknown")
    blade_region: str | None
    viewpoint_index: int
    review_status: str


class MapCycle(BaseModel):
    cycle_id: int
    started_at: datetime
    verdict: str
    model_version: str | None
    viewpoints: list[int] = Field(description="viewpoint indices captured in this cycle")
    defects: list[MapDefect]


class BladeMapOut(BaseModel):
    blade_serial: str
    part_family: str
    cycles: list[MapCycle] = Field(description="oldest first: the blade's history")


class CellLinkState(BaseModel):
    linked: bool
    detail: str
    estop: bool | None = None
    state: str | None = None


class CellActionOut(BaseModel):
    ok: bool
    message: str


class StationStart(BaseModel):
    """A start from the station; `first_time_design` confirms that a family without a deployed model
    gets its first network designed in this cycle (minutes, not seconds)."""

    model_config = ConfigDict(extra="forbid")

    blade_serial: str = Field(pattern=SERIAL_PATTERN, examples=["SN-000123"])
    part_family: str = Field(pattern=CODE_PATTERN, examples=["HPT1-B"])
    first_time_design: StrictBool = False


class StationConfig(BaseModel):
    serial_pattern: str = Field(description="JavaScript-compatible regular expression, after normalising")
    serial_example: str


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blade_serial: str = Field(pattern=SERIAL_PATTERN)
