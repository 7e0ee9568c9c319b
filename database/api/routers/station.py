"""The technician's station and the blade map: progress stream, families, blade models, defect maps,
and the cell's e-stop/reset/resume through the injected cell link (`api/cell_link.py`).

The progress stream is Server-Sent Events over a plain GET (the page reads it with `fetch`, so the
API key travels in the header as everywhere else). Each event carries its row id as the SSE id; a
client that reconnects with `Last-Event-ID` (or `?after=`) gets every event it missed, then live ones.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, status
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ...errors import ConflictError, InvalidInputError, NotFoundError
from ...orm import CycleEvent
from ...patterns import CODE_PATTERN, SERIAL_PATTERN, STATION_SERIAL_EXAMPLE, STATION_SERIAL_PATTERN
from ...serials import normalize_serial
from ...services import blade_models, catalog, progress, registry
from ..cell_link import NO_LINK, CellLink
from ..deps import SessionDep, StoreDep, Technician
from ..schemas.common import CONFLICT, ERROR_RESPONSES, INT64_MAX, NOT_FOUND, BigIdPath, Message
from ..schemas.cycles import CycleStart, CycleStatusOut
from ..schemas.station import (
    BladeMapOut,
    BladeModelOut,
    CellActionOut,
    CellLinkState,
    ResumeIn,
    StationConfig,
    StationFamilyOut,
    StationStart,
)
from . import cycles

router = APIRouter(tags=["station"], responses=ERROR_RESPONSES)
POLL_S = 0.1  # how often a stream looks for new rows: the station lags the cell by about this much
KEEPALIVE_S = 10.0
STREAM_MAX_S = 600.0  # then the stream ends and the client reconnects (Last-Event-ID): no endless request


def _start_after(session, last_event_id: int | None, after: int | None, cell: str | None) -> int:
    if last_event_id is not None:
        return last_event_id
    if after is not None:
        return after
    return progress.current_cycle_start(session, cell)


@router.get(
    "/cycles/events",
    summary="Cycle progress as Server-Sent Events (resumes after Last-Event-ID)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def cycle_events(
    request: Request,
    session: SessionDep,
    _: Technician,
    last_event_id: Annotated[
        int | None,
        Header(alias="Last-Event-ID", ge=0, le=INT64_MAX, description="resume after this event id"),
    ] = None,
    after: Annotated[int | None, Query(ge=0, le=INT64_MAX, description="start after this event id")] = None,
    cell: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = None,
    once: Annotated[bool, Query(description="send what is recorded, then close")] = False,
) -> StreamingResponse:
    start = await run_in_threadpool(_start_after, session, last_event_id, after, cell)
    session.close()  # the stream opens a short session per look; it holds no connection meanwhile
    factory = request.app.state.session_factory

    cursor = progress.EventCursor(start)

    def fetch() -> list[str]:
        with factory() as s:
            rows: list[CycleEvent] = cursor.next(s, cell)
            return [_sse(r.id, progress.to_out(r).model_dump_json()) for r in rows]

    async def stream() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        quiet_since = opened = time.monotonic()
        while True:
            chunks = await run_in_threadpool(fetch)
            for chunk in chunks:
                yield chunk
            if chunks:
                quiet_since = time.monotonic()
                continue  # a full page: fetch the rest at once
            if once or await request.is_disconnected() or time.monotonic() - opened > STREAM_MAX_S:
                return
            if time.monotonic() - quiet_since > KEEPALIVE_S:
                yield ": keep-alive\n\n"
                quiet_since = time.monotonic()
            await asyncio.sleep(POLL_S)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _sse(event_id: int, data: str) -> str:
    return f"id: {event_id}\nevent: progress\ndata: {data}\n\n"


@router.get(
    "/cycles/events/{event_id}/preview.png",
    responses={**NOT_FOUND, 200: {"content": {"image/png": {}}}},
    response_class=Response,
    summary="The capture preview of a progress event",
)
def event_preview(event_id: BigIdPath, session: SessionDep, store: StoreDep, _: Technician) -> Response:
    row = session.get(CycleEvent, event_id)
    if row is None or not row.preview_sha256:
        raise NotFoundError("capture preview of event", event_id)
    data = store.read_bytes(store.path_for(row.preview_sha256, ".png"), row.preview_sha256)
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/station/config", response_model=StationConfig, summary="What the station checks a scan against")
def station_config(_: Technician) -> StationConfig:
    return StationConfig(serial_pattern=STATION_SERIAL_PATTERN, serial_example=STATION_SERIAL_EXAMPLE)


@router.post(
    "/station/cycles",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CycleStatusOut,
    responses={**CONFLICT, 403: {"model": Message, "description": "an unknown blade (technicians)"}},
    summary="Start a cycle from the station: checks the scanned serial and the family's model first",
)
def station_start(body: StationStart, session: SessionDep, user: Technician) -> CycleStatusOut:
    serial = normalize_serial(body.blade_serial)
    if not re.fullmatch(STATION_SERIAL_PATTERN, serial):
        raise InvalidInputError(
            "blade_serial",
            f"{body.blade_serial!r} is not a serial format this station knows (letters, digits and - . _ /, "
            f"e.g. {STATION_SERIAL_EXAMPLE}); scan the blade's label again",
        )
    if not body.first_time_design and registry.deployed_for(session, body.part_family) is None:
        raise ConflictError(
            f"part family {body.part_family!r} has no deployed model: its first cycle designs one "
            "(AutoNAD on this blade's captures, which takes much longer than an inspection); confirm the "
            "first-time design to start"
        )
    return cycles.start_cycle(CycleStart(blade_serial=serial, part_family=body.part_family), session, user)


@router.get(
    "/station/families", response_model=list[StationFamilyOut], summary="Families a cycle can start for"
)
def station_families(session: SessionDep, _: Technician) -> list[StationFamilyOut]:
    with_model = blade_models.has_model(session)
    out = []
    for family in catalog.list_families(session):
        deployed = registry.deployed_for(session, family.code)
        out.append(
            StationFamilyOut(
                code=family.code,
                name=family.name,
                deployed_model=deployed.version if deployed else None,
                has_blade_model=family.id in with_model,
            )
        )
    return out


@router.get(
    "/part-families/{code:path}/blade-model",
    response_model=BladeModelOut,
    responses=NOT_FOUND,
    summary="A family's blade model: mesh link, scan viewpoints, camera frustum",
)
def blade_model(
    code: Annotated[str, Path(pattern=CODE_PATTERN, description="part family code")],
    session: SessionDep,
    _: Technician,
) -> BladeModelOut:
    family, row = blade_models.get(session, code)
    return blade_models.to_out(family, row)


@router.get(
    "/blade-meshes/{sha256}.bin",
    response_class=Response,
    responses={**NOT_FOUND, 200: {"content": {"application/octet-stream": {}}}},
    summary="A blade mesh by content hash, compact binary (database/blade_mesh.py)",
)
def blade_mesh(
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    session: SessionDep,
    store: StoreDep,
    _: Technician,
) -> Response:
    row = blade_models.by_mesh(session, sha256)
    data = store.read_bytes(row.mesh_path, row.mesh_sha256)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{sha256}"'},
    )


@router.get(
    "/blades/{serial:path}/defect-map",
    response_model=BladeMapOut,
    responses=NOT_FOUND,
    summary="A blade's defects in blade coordinates, per cycle (oldest first)",
)
def defect_map(
    serial: Annotated[str, Path(pattern=SERIAL_PATTERN, description="blade serial (URL-encoded)")],
    session: SessionDep,
    _: Technician,
) -> BladeMapOut:
    return blade_models.blade_map(session, serial)


# ---------------------------------------------------------------------------------- the cell link
def _link(request: Request) -> CellLink:
    link = request.app.state.cell_link
    if link is None:
        raise HTTPException(status.HTTP_409_CONFLICT, NO_LINK)  # this server's set-up, not a fault
    return link


@router.get("/cell", response_model=CellLinkState, summary="Is a cell linked to this server, and its state")
def cell_state(request: Request, _: Technician) -> CellLinkState:
    link = request.app.state.cell_link
    if link is None:
        return CellLinkState(linked=False, detail=NO_LINK)
    return link.state()


def _released(session: SessionDep) -> None:
    """Commit what authentication wrote and give the connection back before acting on the cell: the
    coordinator writes its progress rows meanwhile, and a SQLite write lock held by this request
    would make it wait."""
    session.commit()
    session.close()


NO_LINK_RESPONSE = {409: {"model": Message, "description": "this server has no link to a cell"}}


@router.post(
    "/cell/estop",
    response_model=CellActionOut,
    responses=NO_LINK_RESPONSE,
    summary="Press the cell's e-stop (halts arm and stage)",
)
def press_estop(request: Request, session: SessionDep, _: Technician) -> CellActionOut:
    link = _link(request)
    _released(session)
    return link.press_estop()


@router.post(
    "/cell/reset-estop",
    response_model=CellActionOut,
    responses=NO_LINK_RESPONSE,
    summary="Release and reset the e-stop",
)
def reset_estop(request: Request, session: SessionDep, _: Technician) -> CellActionOut:
    link = _link(request)
    _released(session)
    return link.reset_estop()


@router.post(
    "/cell/resume",
    response_model=CellActionOut,
    responses=NO_LINK_RESPONSE,
    summary="Resume a blade's faulted cycle",
)
def resume(body: ResumeIn, request: Request, session: SessionDep, _: Technician) -> CellActionOut:
    link = _link(request)
    _released(session)
    return link.resume(body.blade_serial)
