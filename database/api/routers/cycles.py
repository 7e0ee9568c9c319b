"""Starting inspection cycles and following them (technicians), recorded cycle detail (engineers).

Starting a cycle only queues a request (`cycle_requests`); the cell coordinator polls the queue, so the
API runs and is tested without ROS or a cell.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from ...errors import NotFoundError
from ...orm import CycleRequest, RequestState
from ...services import inspections, queue
from ..deps import Engineer, SessionDep, Technician, can_edit_catalog, can_see_all_cycles
from ..schemas.common import CONFLICT, ERROR_RESPONSES, NOT_FOUND, IdPath, Message
from ..schemas.cycles import CycleStart, CycleStatusOut, InspectionOut

router = APIRouter(tags=["cycles"], responses=ERROR_RESPONSES)


def _visible_request(session: SessionDep, user: Technician, request_uuid: uuid.UUID) -> CycleRequest:
    request = queue.get_request(session, request_uuid)
    if not can_see_all_cycles(user) and request.requested_by_id != user.id:
        raise NotFoundError("cycle request", str(request_uuid))  # don't reveal other people's requests
    return request


@router.post(
    "/cycles",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CycleStatusOut,
    responses={**CONFLICT, 403: {"model": Message, "description": "a technician named an unknown blade"}},
    summary="Start a cycle: queue a request for the cell",
)
def start_cycle(body: CycleStart, session: SessionDep, user: Technician) -> CycleStatusOut:
    request = queue.submit(
        session,
        body.blade_serial,
        body.part_family,
        cell=body.cell,
        options=body.options.model_dump(),
        requested_by_id=user.id,
        register=can_edit_catalog(user),  # a technician starts cycles only for registered blades
    )
    result = queue.to_status(session, request)
    session.commit()
    return result


@router.get("/cycles", response_model=list[CycleStatusOut], summary="Cycle requests (technicians: their own)")
def list_cycles(
    session: SessionDep,
    user: Technician,
    state: RequestState | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[CycleStatusOut]:
    owner = None if can_see_all_cycles(user) else user.id
    rows = queue.list_requests(session, requested_by_id=owner, state=state, limit=limit, offset=offset)
    return [queue.to_status(session, r) for r in rows]


@router.get(
    "/cycles/{request_uuid}", response_model=CycleStatusOut, responses=NOT_FOUND, summary="Cycle status"
)
def cycle_status(request_uuid: uuid.UUID, session: SessionDep, user: Technician) -> CycleStatusOut:
    return queue.to_status(session, _visible_request(session, user, request_uuid))


@router.post(
    "/cycles/{request_uuid}/cancel",
    response_model=CycleStatusOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Cancel a request the cell has not started",
)
def cancel_cycle(request_uuid: uuid.UUID, session: SessionDep, user: Technician) -> CycleStatusOut:
    request = _visible_request(session, user, request_uuid)
    queue.transition(request, RequestState.CANCELLED, cell=None, progress="cancelled")
    session.flush()
    result = queue.to_status(session, request)
    session.commit()
    return result


@router.get(
    "/inspections/{inspection_id}",
    response_model=InspectionOut,
    responses=NOT_FOUND,
    summary="A recorded cycle",
)
def inspection(inspection_id: IdPath, session: SessionDep, _: Engineer) -> InspectionOut:
    """A recorded cycle with its captures; `inspection_id` is the `cycle_id` other records carry."""
    return inspections.inspection_detail(session, inspection_id)
