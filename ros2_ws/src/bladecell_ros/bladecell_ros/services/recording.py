"""A finished cycle -> the database's `CycleRecord` (ROS-free): what the recorder node commits.

Inputs are the cell's own files: the capture manifests (frame paths and hashes, stage pose) and the
cycle's detections file (defect regions and the predicted mask of every capture). Unit conversions:
gains are recorded as linear factors (the database's `gain`, 1.0 = unity) from the imaging plan's dB;
locations in millimetres, blade frame. Class names are normalised to the database's pattern
(lower case, `_`).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bladecell_ros.services.capture_store import CaptureStore
from database.services import CaptureRecord, CycleRecord, DefectRecord, FrameRecord
from platform_control.cycle.refs import viewpoint_of

_CLASS = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True)
class CycleSummary:
    """What the recorder receives (the RecordCycle goal, as plain data)."""

    cycle_id: str
    blade_serial: str
    part_family: str
    cell: str
    operator: str
    request_uuid: str | None
    final_state: str
    verdict: str
    started_at: float
    finished_at: float
    stage_timings: Mapping[str, float]
    model_version: str | None
    capture_refs: Sequence[str]
    detections_ref: str | None


def db_class(name: str) -> str:
    cls = _CLASS.sub("_", name.strip().lower()).strip("_") or "unknown"
    return cls if cls[0].isalpha() else f"c_{cls}"


def gain_factor(gain_db: float) -> float:
    return float(10.0 ** (gain_db / 20.0))


def _when(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def build_cycle_record(summary: CycleSummary, store: CaptureStore) -> CycleRecord:
    """Raises ValueError naming the file or field that does not fit."""
    detections: dict[str, Any] = {"captures": {}, "defects": []}
    if summary.detections_ref:
        path = store.home / summary.detections_ref
        try:
            detections = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"detections file {path}: {exc}") from exc
    captures = []
    for ref in summary.capture_refs:
        meta = store.manifest(ref)
        index = viewpoint_of(ref)
        detected = detections["captures"].get(str(index), {})
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
                mask_path=detected.get("mask_path") or None,
                mask_sha256=detected.get("mask_sha256") or None,
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
        for d in detections["defects"]
    )
    return CycleRecord(
        cycle_uuid=uuid.UUID(hex=summary.cycle_id),
        blade_serial=summary.blade_serial,
        part_family=summary.part_family,
        cell=summary.cell,
        operator=summary.operator,
        request_uuid=uuid.UUID(summary.request_uuid) if summary.request_uuid else None,
        state=summary.final_state,
        verdict=summary.verdict,
        started_at=_when(summary.started_at),
        finished_at=_when(max(summary.finished_at, summary.started_at)),
        stage_timings=dict(summary.stage_timings),
        model_version=summary.model_version or None,
        captures=tuple(captures),
        defects=defects,
    )
