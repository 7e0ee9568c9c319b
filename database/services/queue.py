"""The cycle request queue: the narrow interface between the API and the cell coordinator.

The API `submit`s a request; a coordinator polls `claim_next(cell)` and reports `mark_running`,
`report_progress`, `mark_done` / `mark_failed`. Claiming is atomic across processes and cells:
`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL (concurrent pollers skip each other's row instead of
waiting), `BEGIN IMMEDIATE` on SQLite (one writer at a time). Every transition is checked, and only
the cell that claimed a request may move it on.

A coordinator marks its claim running within seconds; a claim that never started after
`CycleQueue.stale_claim_after` (a coordinator that died, or lost the database, between the two) goes back
to the queue on the next poll of any cell, so no request is stranded.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..api.schemas.cycles import CycleStatusOut
from ..engine import is_postgres
from ..errors import ConflictError, InvalidTransitionError, NotFoundError
from ..orm import CycleRequest, InspectionCycle, RequestState, User, utcnow
from .catalog import ensure_blade
from .transactions import session_factory_for, unit_of_work

ACTIVE_STATES = (RequestState.QUEUED, RequestState.CLAIMED, RequestState.RUNNING)
STALE_CLAIM_AFTER = timedelta(minutes=5)
_ALLOWED: dict[RequestState, set[RequestState]] = {
    RequestState.QUEUED: {RequestState.CLAIMED, RequestState.CANCELLED},
    RequestState.CLAIMED: {
        RequestState.RUNNING,
        RequestState.QUEUED,
        RequestState.FAILED,
        RequestState.CANCELLED,
    },
    RequestState.RUNNING: {RequestState.DONE, RequestState.FAILED},
    RequestState.DONE: set(),
    RequestState.FAILED: set(),
    RequestState.CANCELLED: set(),
}


def to_status(session: Session, request: CycleRequest) -> CycleStatusOut:
    """What a technician (or the coordinator) sees of one request: the API's schema."""
    cycle = session.scalar(  # the latest, when a faulted cycle was followed by its resumed completion
        select(InspectionCycle)
        .where(InspectionCycle.request_id == request.id)
        .order_by(InspectionCycle.id.desc())
        .limit(1)
    )
    requester = session.get(User, request.requested_by_id) if request.requested_by_id else None
    return CycleStatusOut(
        request_uuid=request.request_uuid,
        blade_serial=request.blade_serial,
        part_family=request.part_family_code,
        cell=request.cell,
        options=dict(request.options or {}),
        state=request.state,
        claimed_by=request.claimed_by,
        progress=request.progress,
        error=request.error,
        requested_by=requester.username if requester else None,
        created_at=request.created_at,
        claimed_at=request.claimed_at,
        started_at=request.started_at,
        finished_at=request.finished_at,
        cycle_id=cycle.id if cycle else None,
        cycle_uuid=cycle.cycle_uuid if cycle else None,
        verdict=cycle.verdict.value if cycle else None,
        defect_count=cycle.defect_count if cycle else None,
    )


def submit(
    session: Session,
    blade_serial: str,
    part_family: str,
    *,
    cell: str | None = None,
    options: dict[str, Any] | None = None,
    requested_by_id: int | None = None,
    register: bool = True,
) -> CycleRequest:
    """Queue a cycle; registers the blade (and family) if new, unless `register` is False (then an
    unknown one is a `ForbiddenError`). One active request per blade: the check gives the clear
    message, the partial unique index decides when two starts race."""
    blade, family = ensure_blade(session, blade_serial, part_family, register=register)
    _refuse_if_active(session, blade.serial)
    request = CycleRequest(
        blade_serial=blade.serial,
        part_family_code=family.code,
        cell=cell,
        options=options or {},
        requested_by_id=requested_by_id,
        state=RequestState.QUEUED,
    )
    try:
        with session.begin_nested():
            session.add(request)
    except IntegrityError:  # a concurrent start committed first
        _refuse_if_active(session, blade.serial)
        raise
    return request


def _refuse_if_active(session: Session, serial: str) -> None:
    active = session.scalar(
        select(CycleRequest).where(CycleRequest.blade_serial == serial, CycleRequest.state.in_(ACTIVE_STATES))
    )
    if active is not None:
        raise ConflictError(
            f"blade {serial!r} already has an active cycle request {active.request_uuid} "
            f"({active.state.value})"
        )


def get_request(session: Session, request_uuid: uuid.UUID, *, for_update: bool = False) -> CycleRequest:
    query = select(CycleRequest).where(CycleRequest.request_uuid == request_uuid)
    if for_update and is_postgres(session):
        query = query.with_for_update()
    request = session.scalar(query)
    if request is None:
        raise NotFoundError("cycle request", str(request_uuid))
    return request


def list_requests(
    session: Session, *, requested_by_id: int | None, state: RequestState | None, limit: int, offset: int
) -> list[CycleRequest]:
    query = select(CycleRequest)
    if requested_by_id is not None:
        query = query.where(CycleRequest.requested_by_id == requested_by_id)
    if state is not None:
        query = query.where(CycleRequest.state == state)
    query = query.order_by(CycleRequest.created_at.desc(), CycleRequest.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def transition(
    request: CycleRequest, target: RequestState, *, cell: str | None, progress: str | None = None
) -> None:
    """Move `request` to `target`, refusing illegal moves and moves by a cell that did not claim it."""
    if target not in _ALLOWED[request.state]:
        raise InvalidTransitionError(
            f"cycle request {request.request_uuid} cannot go from {request.state.value} to {target.value}"
        )
    if cell is not None and request.claimed_by is not None and request.claimed_by != cell:
        raise ConflictError(
            f"cycle request {request.request_uuid} is claimed by cell {request.claimed_by!r}, not {cell!r}"
        )
    now = utcnow()
    request.state = target
    if progress is not None:
        request.progress = progress[:200]
    if target == RequestState.RUNNING:
        request.started_at = now
    elif target in (RequestState.DONE, RequestState.FAILED, RequestState.CANCELLED):
        request.finished_at = now
    elif target == RequestState.QUEUED:
        request.claimed_by = None
        request.claimed_at = None


def claim_next(session: Session, cell: str) -> CycleRequest | None:
    """Claim the oldest queued request this cell may run; None when there is none. Call in a write
    transaction (on SQLite an IMMEDIATE one, see `CycleQueue.claim_next`)."""
    query = (
        select(CycleRequest)
        .where(
            CycleRequest.state == RequestState.QUEUED,
            or_(CycleRequest.cell.is_(None), CycleRequest.cell == cell),
        )
        .order_by(CycleRequest.created_at, CycleRequest.id)
        .limit(1)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    request = session.scalar(query)
    if request is None:
        return None
    # Guarded update: even on a backend without row locks, a row claimed meanwhile is not claimed twice.
    now = utcnow()
    result = session.execute(
        update(CycleRequest)
        .where(CycleRequest.id == request.id, CycleRequest.state == RequestState.QUEUED)
        .values(state=RequestState.CLAIMED, claimed_by=cell, claimed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    session.refresh(request)
    return request


def requeue_stale(session: Session, older_than: timedelta) -> int:
    """Return requests claimed longer than `older_than` ago but never started to the queue."""
    now = utcnow()
    result = session.execute(
        update(CycleRequest)
        .where(CycleRequest.state == RequestState.CLAIMED, CycleRequest.claimed_at < now - older_than)
        .values(
            state=RequestState.QUEUED, claimed_by=None, claimed_at=None, progress="requeued", updated_at=now
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


class CycleQueue:
    """The coordinator's (and the CLI's) handle on the queue; each call is one transaction.

    Database faults raise `DatabaseUnavailableError` with nothing written; every call can be retried.
    """

    def __init__(
        self,
        target: sessionmaker[Session] | Engine | str | None = None,
        *,
        stale_claim_after: timedelta | None = STALE_CLAIM_AFTER,
    ) -> None:
        self._factory = session_factory_for(target)
        self.stale_claim_after = stale_claim_after  # None: stale claims wait for `requeue_stale`

    def submit(
        self,
        blade_serial: str,
        part_family: str,
        *,
        cell: str | None = None,
        options: dict[str, Any] | None = None,
        requested_by: str | None = None,
    ) -> CycleStatusOut:
        with unit_of_work(self._factory, immediate=True) as session:
            user_id = None
            if requested_by is not None:
                user_id = session.scalar(select(User.id).where(User.username == requested_by))
                if user_id is None:
                    raise NotFoundError("user", requested_by)
            request = submit(
                session, blade_serial, part_family, cell=cell, options=options, requested_by_id=user_id
            )
            return to_status(session, request)

    def claim_next(self, cell: str) -> CycleStatusOut | None:
        with unit_of_work(self._factory, immediate=True) as session:
            if self.stale_claim_after is not None:
                requeue_stale(session, self.stale_claim_after)
            request = claim_next(session, cell)
            return to_status(session, request) if request else None

    def _move(
        self, request_uuid: uuid.UUID, target: RequestState, cell: str | None, **fields: Any
    ) -> CycleStatusOut:
        with unit_of_work(self._factory, immediate=True) as session:
            request = get_request(session, request_uuid, for_update=True)
            transition(request, target, cell=cell, progress=fields.pop("progress", None))
            for key, value in fields.items():
                setattr(request, key, value)
            session.flush()
            return to_status(session, request)

    def mark_running(self, request_uuid: uuid.UUID, cell: str, progress: str = "started") -> CycleStatusOut:
        return self._move(request_uuid, RequestState.RUNNING, cell, progress=progress)

    def report_progress(self, request_uuid: uuid.UUID, cell: str, progress: str) -> CycleStatusOut:
        with unit_of_work(self._factory, immediate=True) as session:
            request = get_request(session, request_uuid, for_update=True)
            if request.state not in (RequestState.CLAIMED, RequestState.RUNNING):
                raise InvalidTransitionError(
                    f"cycle request {request_uuid} is {request.state.value}, not in progress"
                )
            if request.claimed_by != cell:
                raise ConflictError(
                    f"cycle request {request_uuid} is claimed by {request.claimed_by!r}, not {cell!r}"
                )
            request.progress = progress[:200]
            session.flush()
            return to_status(session, request)

    def mark_done(self, request_uuid: uuid.UUID, cell: str, progress: str = "done") -> CycleStatusOut:
        return self._move(request_uuid, RequestState.DONE, cell, progress=progress)

    def mark_failed(self, request_uuid: uuid.UUID, cell: str, error: str) -> CycleStatusOut:
        return self._move(request_uuid, RequestState.FAILED, cell, progress="failed", error=error)

    def release(self, request_uuid: uuid.UUID, cell: str) -> CycleStatusOut:
        """Hand a claimed (not yet running) request back to the queue, e.g. on coordinator shutdown."""
        return self._move(request_uuid, RequestState.QUEUED, cell, progress="released")

    def cancel(self, request_uuid: uuid.UUID) -> CycleStatusOut:
        return self._move(request_uuid, RequestState.CANCELLED, None, progress="cancelled")

    def status(self, request_uuid: uuid.UUID) -> CycleStatusOut:
        with self._factory() as session:
            return to_status(session, get_request(session, request_uuid))

    def requeue_stale(self, older_than: timedelta) -> int:
        """Return requests claimed longer than `older_than` ago but never started (a dead coordinator)."""
        with unit_of_work(self._factory, immediate=True) as session:
            return requeue_stale(session, older_than)
