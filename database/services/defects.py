"""One defect: detail with its capture, engineer review, and the overlay image rendered on demand."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import NotFoundError, StoredFileError
from ..orm import (
    Blade,
    Capture,
    CaptureFrame,
    Defect,
    DetectionModel,
    InspectionCycle,
    PartFamily,
    ReviewStatus,
    User,
    utcnow,
)
from ..overlay import render_overlay
from ..storage import ContentStore


@dataclass(frozen=True)
class DefectDetail:
    defect: Defect
    blade_serial: str
    part_family: str
    model_version: str | None
    cycle: InspectionCycle
    capture: Capture
    frames: list[CaptureFrame]
    reviewed_by: str | None


def get_defect(session: Session, defect_id: int) -> Defect:
    defect = session.get(Defect, defect_id)
    if defect is None:
        raise NotFoundError("defect", defect_id)
    return defect


def defect_detail(session: Session, defect_id: int) -> DefectDetail:
    defect = get_defect(session, defect_id)
    capture = session.get(Capture, defect.capture_id)
    frames = list(
        session.scalars(
            select(CaptureFrame).where(CaptureFrame.capture_id == capture.id).order_by(CaptureFrame.id)
        )
    )
    model = session.get(DetectionModel, defect.model_id) if defect.model_id else None
    reviewer = session.get(User, defect.reviewed_by_id) if defect.reviewed_by_id else None
    return DefectDetail(
        defect=defect,
        blade_serial=session.get(Blade, defect.blade_id).serial,
        part_family=session.get(PartFamily, defect.part_family_id).code,
        model_version=model.version if model else None,
        cycle=session.get(InspectionCycle, defect.cycle_id),
        capture=capture,
        frames=frames,
        reviewed_by=reviewer.username if reviewer else None,
    )


def review_defect(
    session: Session, defect_id: int, status: ReviewStatus, note: str | None, reviewer: User
) -> Defect:
    defect = get_defect(session, defect_id)
    defect.review_status = status
    defect.review_note = note
    defect.reviewed_by_id = reviewer.id if status != ReviewStatus.UNREVIEWED else None
    defect.reviewed_at = utcnow() if status != ReviewStatus.UNREVIEWED else None
    session.flush()
    return defect


def _frame(frames: list[CaptureFrame], channel: str | None) -> CaptureFrame:
    if not frames:
        raise NotFoundError("capture frame", channel or "any")
    if channel is None:
        return frames[0]
    for frame in frames:
        if frame.channel == channel:
            return frame
    raise NotFoundError(f"channel (this capture has {[f.channel for f in frames]})", channel)


def capture_png(session: Session, store: ContentStore, defect_id: int, channel: str | None) -> bytes:
    """The capture frame's stored bytes (verified against its hash)."""
    detail = defect_detail(session, defect_id)
    frame = _frame(detail.frames, channel)
    return store.read_bytes(frame.path, frame.sha256)


def overlay_png(
    session: Session, store: ContentStore, defect_id: int, channel: str | None
) -> tuple[bytes, str | None]:
    """PNG of the frame with the class mask tinted and this defect outlined; plus a warning, if any."""
    detail = defect_detail(session, defect_id)
    frame_row = _frame(detail.frames, channel)
    frame = store.read_image(frame_row.path, frame_row.sha256)
    mask, warning = None, None
    capture = detail.capture
    if capture.mask_path:
        try:
            mask = store.read_image(capture.mask_path, capture.mask_sha256, grey=True)
        except StoredFileError as exc:
            warning = f"mask not shown: {exc}"
        if mask is not None and mask.shape[:2] != frame.shape[:2]:
            warning = f"mask not shown: its size {mask.shape[1]}x{mask.shape[0]} differs from the frame's"
            mask = None
    d = detail.defect
    label = f"#{d.id} {d.defect_class} {d.confidence:.2f} {d.area_mm2:.2f}mm2"
    png = render_overlay(frame, mask, d.contour, (d.bbox_x, d.bbox_y, d.bbox_w, d.bbox_h), label)
    return png, warning
