"""Defect search, detail, overlay image, review and CSV export (engineers)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from ...services import defects as defect_service
from ...services.export import iter_defects_csv
from ..deps import Engineer, SessionDep, SettingsDep, StoreDep
from ..errors import busy
from ..schemas.common import ERROR_RESPONSES, NO_NUL, NOT_FOUND, BigIdPath
from ..schemas.defects import (
    DefectDetailOut,
    DefectPageOut,
    DefectSearchParams,
    DefectSortParams,
    ReviewIn,
    ReviewOut,
)


def _released_after(gate: threading.Semaphore, first: str, rest: Iterator[str]) -> Iterator[str]:
    """The CSV body; the export's slot is given back when it ends, however it ends."""
    try:
        yield first
        yield from rest
    finally:
        gate.release()


router = APIRouter(prefix="/defects", tags=["defects"], responses=ERROR_RESPONSES)
PNG = {200: {"content": {"image/png": {}}, "description": "PNG image"}}
ChannelQuery = Annotated[
    str | None, Query(max_length=32, pattern=NO_NUL, description="light channel; default the first")
]


@router.get("", response_model=DefectPageOut, summary="Search defects (filter, sort, keyset pagination)")
def search(params: Annotated[DefectSearchParams, Query()], session: SessionDep, _: Engineer) -> DefectPageOut:
    return defect_service.search(
        session, params.to_filter(), params.sort_spec(), params.limit, params.cursor, params.include_total
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
    gate = request.app.state.export_gate
    if not gate.acquire(blocking=False):
        return busy(f"{request.app.state.export_slots} CSV exports already running")
    try:
        chunks = iter_defects_csv(
            request.app.state.session_factory,
            params.to_filter(),
            params.sort_spec(),
            settings.export_row_limit,
        )
        # Run the query up to its first batch now: a database fault or a full pool is then an ordinary
        # 503 before the response starts, not a connection cut in the middle of the body.
        first = next(chunks, "")
    except BaseException:
        gate.release()
        raise
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        _released_after(gate, first, chunks),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="defects-{stamp}.csv"'},
    )


@router.get(
    "/{defect_id}", response_model=DefectDetailOut, responses=NOT_FOUND, summary="One defect in detail"
)
def detail(defect_id: BigIdPath, session: SessionDep, _: Engineer) -> DefectDetailOut:
    return defect_service.defect_detail(session, defect_id)


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
