"""Defect search, detail, overlay image, review and CSV export (engineers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from ...services import defects as defect_service
from ...services.defect_search import DefectRow, search_defects
from ...services.export import iter_defects_csv
from ..deps import Engineer, SessionDep, SettingsDep, StoreDep
from ..schemas.common import ERROR_RESPONSES, NO_NUL, NOT_FOUND, BigIdPath
from ..schemas.defects import (
    DefectDetailOut,
    DefectPageOut,
    DefectSearchParams,
    DefectSortParams,
    DefectSummaryOut,
    ReviewIn,
    ReviewOut,
)

router = APIRouter(prefix="/defects", tags=["defects"], responses=ERROR_RESPONSES)
PNG = {200: {"content": {"image/png": {}}, "description": "PNG image"}}
ChannelQuery = Annotated[
    str | None, Query(max_length=32, pattern=NO_NUL, description="light channel; default the first")
]


def _summary(row: DefectRow) -> DefectSummaryOut:
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


@router.get("", response_model=DefectPageOut, summary="Search defects (filter, sort, keyset pagination)")
def search(params: Annotated[DefectSearchParams, Query()], session: SessionDep, _: Engineer) -> DefectPageOut:
    page = search_defects(
        session, params.to_filter(), params.sort_spec(), params.limit, params.cursor, params.include_total
    )
    return DefectPageOut(
        items=[_summary(r) for r in page.items],
        next_cursor=page.next_cursor,
        limit=page.limit,
        sort=page.sort,
        total=page.total,
    )


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV, streamed"}},
    summary="Export the matching defects as CSV (streamed)",
)
def export_csv(
    params: Annotated[DefectSortParams, Query()], request: Request, settings: SettingsDep, _: Engineer
) -> StreamingResponse:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    rows = iter_defects_csv(
        request.app.state.session_factory, params.to_filter(), params.sort_spec(), settings.export_row_limit
    )
    return StreamingResponse(
        rows,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="defects-{stamp}.csv"'},
    )


@router.get(
    "/{defect_id}", response_model=DefectDetailOut, responses=NOT_FOUND, summary="One defect in detail"
)
def detail(defect_id: BigIdPath, session: SessionDep, _: Engineer) -> DefectDetailOut:
    info = defect_service.defect_detail(session, defect_id)
    d = info.defect
    summary = _summary(DefectRow(d, info.blade_serial, info.part_family, info.model_version))
    location = None
    if d.location_x_mm is not None and d.location_y_mm is not None and d.location_z_mm is not None:
        location = (d.location_x_mm, d.location_y_mm, d.location_z_mm)
    return DefectDetailOut(
        **summary.model_dump(),
        cycle_uuid=str(info.cycle.cycle_uuid),
        verdict=info.cycle.verdict.value,
        contour=d.contour,
        location_mm=location,
        viewpoint_index=info.capture.viewpoint_index,
        stage_pose=info.capture.stage_pose,
        capture_size=(info.capture.width, info.capture.height),
        channels=info.frames,
        reviewed_by=info.reviewed_by,
        reviewed_at=d.reviewed_at,
        review_note=d.review_note,
        overlay_url=f"/api/v1/defects/{d.id}/overlay.png",
        capture_url=f"/api/v1/defects/{d.id}/capture.png",
    )


@router.get(
    "/{defect_id}/overlay.png",
    response_class=Response,
    responses={**PNG, **NOT_FOUND},
    summary="The capture with the mask tinted and this defect outlined",
)
def overlay(
    defect_id: BigIdPath, session: SessionDep, store: StoreDep, _: Engineer, channel: ChannelQuery = None
) -> Response:
    png, warning = defect_service.overlay_png(session, store, defect_id, channel)
    headers = {"Cache-Control": "private, max-age=3600"}
    if warning:
        headers["X-Overlay-Warning"] = warning
    return Response(png, media_type="image/png", headers=headers)


@router.get(
    "/{defect_id}/capture.png",
    response_class=Response,
    responses={**PNG, **NOT_FOUND},
    summary="The capture frame the defect was found in",
)
def capture(
    defect_id: BigIdPath, session: SessionDep, store: StoreDep, _: Engineer, channel: ChannelQuery = None
) -> Response:
    png = defect_service.capture_png(session, store, defect_id, channel)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.patch("/{defect_id}/review", response_model=ReviewOut, responses=NOT_FOUND, summary="Review a defect")
def review(defect_id: BigIdPath, body: ReviewIn, session: SessionDep, user: Engineer) -> ReviewOut:
    defect = defect_service.review_defect(session, defect_id, body.review_status, body.note, user)
    result = ReviewOut.model_validate(defect)
    session.commit()
    return result
