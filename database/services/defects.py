"""One defect: detail with its capture, engineer review, and the overlay image rendered on demand."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..api.schemas.defects import DefectDetailOut, DefectPageOut, DefectSummaryOut, FrameRef
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
from .defect_search import DefectFilter, DefectRow, SortSpec, search_defects


def get_defect(session: Session, defect_id: int) -> Defect:
    defect = session.get(Defect, defect_id)
    if defect is None:
        raise NotFoundError("defect", defect_id)
    return defect


def summary_out(row: DefectRow) -> DefectSummaryOut:
    """One search result as the API shows it."""
    d = row.defect
    return DefectSummaryOut(
        id=d.id,
        blade_serial=row.blade_serial,
        part_family=row.part_family,
        cycle_id=d.cycle_id,
        capture_id=d.capture_id,
        cell=d.cell,
        detected_at=d.detected_at,
        defect_class=d.defect_class,
        confidence=d.confidence,
        pixel_area=d.pixel_area,
        area_mm2=d.area_mm2,
        bbox=(d.bbox_x, d.bbox_y, d.bbox_w, d.bbox_h),
        blade_region=d.blade_region,
        model_version=row.model_version,
        review_status=d.review_status,
    )


def search(
    session: Session,
    filters: DefectFilter,
    sort: SortSpec,
    limit: int,
    cursor: str | None,
    include_total: bool,
) -> DefectPageOut:
    """A page of matching defects (keyset pagination: see `defect_search`)."""
    page = search_defects(session, filters, sort, limit, cursor, include_total)
    return DefectPageOut(
        items=[summary_out(r) for r in page.items],
        next_cursor=page.next_cursor,
        limit=page.limit,
        sort=page.sort,
        total=page.total,
    )


def _capture_and_frames(session: Session, defect: Defect) -> tuple[Capture, list[CaptureFrame]]:
    capture = session.get(Capture, defect.capture_id)
    frames = list(
        session.scalars(
            select(CaptureFrame).where(CaptureFrame.capture_id == capture.id).order_by(CaptureFrame.id)
        )
    )
    return capture, frames


def defect_detail(session: Session, defect_id: int) -> DefectDetailOut:
    """One defect with its capture, cycle and review, as the API shows it."""
    d = get_defect(session, defect_id)
    capture, frames = _capture_and_frames(session, d)
    model = session.get(DetectionModel, d.model_id) if d.model_id else None
    reviewer = session.get(User, d.reviewed_by_id) if d.reviewed_by_id else None
    cycle = session.get(InspectionCycle, d.cycle_id)
    row = DefectRow(
        d,
        session.get(Blade, d.blade_id).serial,
        session.get(PartFamily, d.part_family_id).code,
        model.version if model else None,
    )
    location = None
    if d.location_x_mm is not None and d.location_y_mm is not None and d.location_z_mm is not None:
        location = (d.location_x_mm, d.location_y_mm, d.location_z_mm)
    return DefectDetailOut(
        **summary_out(row).model_dump(),
        cycle_uuid=str(cycle.cycle_uuid),
        verdict=cycle.verdict.value,
        contour=d.contour,
        location_mm=location,
        viewpoint_index=capture.viewpoint_index,
        stage_pose=capture.stage_pose,
        capture_size=(capture.width, capture.height),
        channels=[FrameRef.model_validate(f) for f in frames],
        reviewed_by=reviewer.username if reviewer else None,
        reviewed_at=d.reviewed_at,
        review_note=d.review_note,
        overlay_url=f"/api/v1/defects/{d.id}/overlay.png",
        capture_url=f"/api/v1/defects/{d.id}/capture.png",
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
    _, frames = _capture_and_frames(session, get_defect(session, defect_id))
    frame = _frame(frames, channel)
    return store.read_bytes(frame.path, frame.sha256)


def overlay_png(
    session: Session, store: ContentStore, defect_id: int, channel: str | None
) -> tuple[bytes, str | None]:
    """PNG of the frame with the class mask tinted and this defect outlined; plus a warning, if any."""
    d = get_defect(session, defect_id)
    capture, frames = _capture_and_frames(session, d)
    frame_row = _frame(frames, channel)
    frame = store.read_image(frame_row.path, frame_row.sha256)
    mask, warning = None, None
    if capture.mask_path:
        try:
            mask = store.read_image(capture.mask_path, capture.mask_sha256, grey=True)
        except StoredFileError as exc:
            warning = f"mask not shown: {exc}"
        if mask is not None and mask.shape[:2] != frame.shape[:2]:
            warning = f"mask not shown: its size {mask.shape[1]}x{mask.shape[0]} differs from the frame's"
            mask = None
    label = f"#{d.id} {d.defect_class} {d.confidence:.2f} {d.area_mm2:.2f}mm2"
    png = render_overlay(frame, mask, d.contour, (d.bbox_x, d.bbox_y, d.bbox_w, d.bbox_h), label)
    return png, warning
