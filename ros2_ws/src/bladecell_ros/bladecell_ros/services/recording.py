"""A finished cycle -> the database's `CycleRecord` (ROS-free): what the recorder node commits.

Inputs are the cell's own files: the capture manifests (frame paths and hashes, stage pose) and the
cycle's detections file (defect regions and the predicted mask of every capture). Unit conversions:
gains are recorded as linear factors (the database's `gain`, 1.0 = unity) from the imaging plan's dB;
locations in millimetres, blade frame. Class names are normalised to the database's pattern
(lower case, `_`).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from bladecell_ros.services.capture_store import CaptureStore
from database.services import CaptureRecord, CycleRecord, DefectRecord, FrameRecord
from platform_control.cycle.detections import DetectionsFile
from platform_control.cycle.refs import viewpoint_of
from platform_control.cycle.services import RecordRequest

_CLASS = re.compile(r"[^a-z0-9_]+")


def db_class(name: str) -> str:
    cls = _CLASS.sub("_", name.strip().lower()).strip("_") or "unknown"
    return cls if cls[0].isalpha() else f"c_{cls}"


def gain_factor(gain_db: float) -> float:
    return float(10.0 ** (gain_db / 20.0))


def _when(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def build_cycle_record(request: RecordRequest, cell: str, store: CaptureStore) -> CycleRecord:
    """The database record of a finished cycle from the cell's files (capture manifests, the detections
    file). Raises ValueError naming the file or field that does not fit."""
    job = request.job
    detections = DetectionsFile.read(store.home, request.detections_ref) if request.detections_ref else None
    detected = detections.captures if detections else {}
    captures = []
    for ref in request.capture_refs:
        meta = store.manifest(ref)
        index = viewpoint_of(ref)
        mask = detected.get(index)
        captures.append(
            CaptureRecord(
                viewpoint_index=index,
                stage_pose=tuple(meta["stage_axes"]),
                width=meta["width"],
                height=meta["height"],
                frames=tuple(
                    FrameRecord(
                        channel=c["channel"],
                        path=c["path"],
                        sha256=c["sha256"],
                        exposure_ms=c["exposure_ms"],
                        gain=gain_factor(c["gain"]),
                    )
                    for c in meta["channels"]
                ),
                mask_path=mask.mask_path if mask else None,
                mask_sha256=mask.mask_sha256 if mask else None,
                captured_at=_when(meta["channels"][0]["timestamp"])
                if meta["channels"][0]["timestamp"] > 1e9
                else datetime.fromisoformat(meta["stored_at"]),
            )
        )
    defects = tuple(
        DefectRecord(
            viewpoint_index=d["viewpoint_index"],
            defect_class=db_class(d["defect_class"]),
            confidence=d["confidence"],
            pixel_area=d["pixel_area"],
            area_mm2=d["area_mm2"],
            bbox=tuple(d["bbox"]),
            contour=tuple(tuple(p) for p in d["contour"]),
            location_mm=tuple(d["location_mm"]) if d.get("location_mm") else None,
        )
        for d in (detections.defects if detections else ())
    )
    return CycleRecord(
        cycle_uuid=uuid.UUID(hex=job.cycle_id),
        blade_serial=job.blade_serial,
        part_family=job.part_family,
        cell=cell,
        operator=job.operator,
        request_uuid=uuid.UUID(job.request_uuid) if job.request_uuid else None,
        state=request.final_state,
        verdict=request.verdict,
        started_at=_when(request.started_at),
        finished_at=_when(max(request.finished_at, request.started_at)),
        stage_timings=dict(request.stage_timings),
        model_version=request.model_version or None,
        captures=tuple(captures),
        defects=defects,
    )
