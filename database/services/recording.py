"""Recording a whole inspection cycle in ONE transaction, idempotent on retry.

The cell's recorder node builds a `CycleRecord` (cycle, captures with their file paths and hashes,
defects, model version, verdict) and calls `CycleRecorder.record`. The cycle's UUID is the idempotency
key: recording the same UUID again (a retry after a lost connection, when the first commit may or may
not have landed) returns the existing cycle and writes nothing; the same UUID with different content is
a conflict. Either everything of a cycle is in the database or nothing is.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import ConflictError, InvalidInputError
from ..orm import (
    Capture,
    CaptureFrame,
    CycleState,
    Defect,
    DetectionModel,
    InspectionCycle,
    RequestState,
    Verdict,
    utcnow,
)
from .catalog import ensure_blade
from .queue import get_request, transition
from .transactions import session_factory_for, unit_of_work

CLASS_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FrameRecord(_Strict):
    channel: str = Field(min_length=1, max_length=32)
    path: str = Field(min_length=1, max_length=512, description="relative to BLADECELL_HOME")
    sha256: str = Field(pattern=SHA256_PATTERN)
    exposure_ms: float = Field(gt=0)
    gain: float = Field(default=1.0, gt=0)


class CaptureRecord(_Strict):
    viewpoint_index: int = Field(ge=0)
    stage_pose: tuple[float, float, float, float, float]
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    frames: tuple[FrameRecord, ...] = Field(min_length=1)
    mask_path: str | None = Field(default=None, max_length=512)
    mask_sha256: str | None = Field(default=None, pattern=SHA256_PATTERN)
    captured_at: datetime | None = None

    @model_validator(mode="after")
    def _unique_channels(self) -> CaptureRecord:
        channels = [f.channel for f in self.frames]
        if len(set(channels)) != len(channels):
            raise ValueError(f"viewpoint {self.viewpoint_index}: duplicate channels {channels}")
        if (self.mask_path is None) != (self.mask_sha256 is None):
            raise ValueError(f"viewpoint {self.viewpoint_index}: mask_path and mask_sha256 go together")
        return self


class DefectRecord(_Strict):
    viewpoint_index: int = Field(ge=0, description="the capture it was detected in")
    defect_class: str = Field(pattern=CLASS_PATTERN)
    confidence: float = Field(ge=0, le=1)
    pixel_area: int = Field(ge=1)
    area_mm2: float = Field(ge=0)
    bbox: tuple[int, int, int, int] = Field(description="x, y, width, height in capture pixels")
    contour: tuple[tuple[int, int], ...] = ()
    location_mm: tuple[float, float, float] | None = None
    blade_region: str | None = Field(default=None, max_length=64)


#: What a second record attempt of the same cycle may change: when it finished and how long its stages
#: took. A coordinator that died after the recorder committed (its answer lost) resumes in RECORDING
#: and sends the cycle again, later; that is a retry, not a different record (it used to FAULT the
#: cycle with a conflict and leave the blade on the fixture). The record keeps the first attempt's.
ATTEMPT_FIELDS = frozenset({"finished_at", "stage_timings"})


class CycleRecord(_Strict):
    cycle_uuid: uuid.UUID
    blade_serial: str = Field(min_length=1, max_length=64)
    part_family: str = Field(min_length=1, max_length=64)
    cell: str = Field(min_length=1, max_length=64)
    operator: str = Field(default="", max_length=64)
    request_uuid: uuid.UUID | None = None
    state: CycleState
    verdict: Verdict
    started_at: datetime
    finished_at: datetime
    stage_timings: dict[str, float] = Field(default_factory=dict)
    model_version: str | None = Field(default=None, max_length=64)
    captures: tuple[CaptureRecord, ...] = ()
    defects: tuple[DefectRecord, ...] = ()

    @field_validator("started_at", "finished_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must be timezone-aware")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CycleRecord:
        if self.finished_at < self.started_at:
            raise ValueError(f"finished_at {self.finished_at} is before started_at {self.started_at}")
        captures = {c.viewpoint_index: c for c in self.captures}
        if len(captures) != len(self.captures):
            raise ValueError("two captures share a viewpoint_index")
        for i, d in enumerate(self.defects):
            capture = captures.get(d.viewpoint_index)
            if capture is None:
                raise ValueError(
                    f"defects[{i}] refers to viewpoint {d.viewpoint_index}, which has no capture"
                )
            x, y, w, h = d.bbox
            if x < 0 or y < 0 or w < 1 or h < 1 or x + w > capture.width or y + h > capture.height:
                raise ValueError(
                    f"defects[{i}].bbox {d.bbox} lies outside the {capture.width}x{capture.height} capture"
                )
        if self.verdict == Verdict.PASS and self.state != CycleState.DONE:
            raise ValueError(f"a {self.state.value} cycle cannot pass")
        return self

    def content_hash(self, *, with_attempt: bool = False) -> str:
        """SHA-256 of the record without `ATTEMPT_FIELDS` (with them: how records were hashed before)."""
        data = self.model_dump(mode="json", exclude=None if with_attempt else set(ATTEMPT_FIELDS))
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class RecordResult:
    cycle_id: int
    cycle_uuid: uuid.UUID
    created: bool  # False: this cycle was already recorded (a retry); nothing was written
    capture_count: int
    defect_count: int


def _existing(session: Session, record: CycleRecord, digest: str) -> RecordResult | None:
    cycle = session.scalar(select(InspectionCycle).where(InspectionCycle.cycle_uuid == record.cycle_uuid))
    if cycle is None:
        return None
    if cycle.payload_sha256 not in (digest, record.content_hash(with_attempt=True)):
        raise ConflictError(f"cycle {record.cycle_uuid} was already recorded with different content")
    return RecordResult(cycle.id, cycle.cycle_uuid, False, len(record.captures), cycle.defect_count)


def record_cycle(session: Session, record: CycleRecord) -> RecordResult:
    """Write the cycle into `session` (the caller commits). Returns the existing cycle on a retry."""
    digest = record.content_hash()
    existing = _existing(session, record, digest)
    if existing is not None:
        return existing
    blade, family = ensure_blade(session, record.blade_serial, record.part_family)
    model_id = None
    if record.model_version is not None:
        model = session.scalar(select(DetectionModel).where(DetectionModel.version == record.model_version))
        if model is None:
            raise InvalidInputError("model_version", f"model {record.model_version!r} is not in the registry")
        if model.part_family_id != family.id:
            raise InvalidInputError(
                "model_version", f"model {record.model_version!r} is not a {family.code!r} model"
            )
        model_id = model.id
    request_id = None
    if record.request_uuid is not None:
        request = get_request(session, record.request_uuid, for_update=True)
        if request.blade_serial != blade.serial:
            raise InvalidInputError(
                "request_uuid", f"request {record.request_uuid} is for blade {request.blade_serial!r}"
            )
        if request.state in (RequestState.CLAIMED, RequestState.RUNNING):
            if request.state == RequestState.CLAIMED:
                transition(request, RequestState.RUNNING, cell=record.cell)
            done = record.state == CycleState.DONE
            transition(
                request,
                RequestState.DONE if done else RequestState.FAILED,
                cell=record.cell,
                progress=f"recorded: {record.verdict.value}",
            )
            if not done:
                request.error = f"cycle {record.state.value}"
        elif request.state == RequestState.FAILED and record.state == CycleState.DONE:
            # A faulted cycle was resumed and completed: the request is fulfilled after all.
            request.state = RequestState.DONE
            request.error = None
            request.progress = f"recorded after resume: {record.verdict.value}"
            request.finished_at = utcnow()
        request_id = request.id

    cycle = InspectionCycle(
        cycle_uuid=record.cycle_uuid,
        blade_id=blade.id,
        request_id=request_id,
        model_id=model_id,
        cell=record.cell,
        operator=record.operator,
        state=record.state,
        verdict=record.verdict,
        started_at=record.started_at,
        finished_at=record.finished_at,
        duration_s=(record.finished_at - record.started_at).total_seconds(),
        stage_timings=dict(record.stage_timings),
        defect_count=len(record.defects),
        payload_sha256=digest,
    )
    for c in record.captures:
        capture = Capture(
            viewpoint_index=c.viewpoint_index,
            stage_pose=list(c.stage_pose),
            width=c.width,
            height=c.height,
            mask_path=c.mask_path,
            mask_sha256=c.mask_sha256,
            **({"captured_at": c.captured_at} if c.captured_at else {}),
        )
        capture.frames = [
            CaptureFrame(
                channel=f.channel, path=f.path, sha256=f.sha256, exposure_ms=f.exposure_ms, gain=f.gain
            )
            for f in c.frames
        ]
        cycle.captures.append(capture)
    session.add(cycle)
    session.flush()
    capture_ids = {c.viewpoint_index: c.id for c in cycle.captures}
    if record.defects:
        session.execute(
            insert(Defect),
            [
                {
                    "cycle_id": cycle.id,
                    "capture_id": capture_ids[d.viewpoint_index],
                    "blade_id": blade.id,
                    "part_family_id": family.id,
                    "model_id": model_id,
                    "cell": record.cell,
                    "detected_at": record.started_at,
                    "defect_class": d.defect_class,
                    "confidence": d.confidence,
                    "pixel_area": d.pixel_area,
                    "area_mm2": d.area_mm2,
                    "bbox_x": d.bbox[0],
                    "bbox_y": d.bbox[1],
                    "bbox_w": d.bbox[2],
                    "bbox_h": d.bbox[3],
                    "contour": [list(p) for p in d.contour],
                    "location_x_mm": d.location_mm[0] if d.location_mm else None,
                    "location_y_mm": d.location_mm[1] if d.location_mm else None,
                    "location_z_mm": d.location_mm[2] if d.location_mm else None,
                    "blade_region": d.blade_region,
                }
                for d in record.defects
            ],
        )
    return RecordResult(cycle.id, cycle.cycle_uuid, True, len(record.captures), len(record.defects))


_UUID_CONFLICT = re.compile(r"cycle_uuid|uq_inspection_cycles_cycle_uuid")


class CycleRecorder:
    """The recorder node's handle: `record(CycleRecord)` commits everything of a cycle or nothing.

    Safe to retry after any `DatabaseUnavailableError`: the retry either writes the cycle (the first
    attempt never committed) or finds it and writes nothing.
    """

    def __init__(self, target: sessionmaker[Session] | Engine | str | None = None) -> None:
        self._factory = session_factory_for(target)

    def record(self, record: CycleRecord) -> RecordResult:
        try:
            with unit_of_work(self._factory, immediate=True) as session:
                return record_cycle(session, record)
        except IntegrityError as exc:
            if not _UUID_CONFLICT.search(str(exc.orig)):
                raise
            # Another process recorded the same cycle between our check and our insert.
            with self._factory() as session:
                existing = _existing(session, record, record.content_hash())
            if existing is None:  # pragma: no cover - the conflicting row must exist
                raise
            return existing
