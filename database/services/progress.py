"""Cycle progress events: the cell appends them, the station's event stream reads them after an id.

Ids only grow, so a stream resumes exactly after the last event a browser saw (`Last-Event-ID`) and a
reconnecting page catches up on what it missed. The coordinator writes through `ProgressLog` (one
transaction per event); the API reads with `events_after`.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from ..api.schemas.station import CycleEventIn, CycleEventOut
from ..orm import CycleEvent, utcnow
from .transactions import session_factory_for, unit_of_work

PAGE = 200


def append(session: Session, event: CycleEventIn) -> CycleEvent:
    row = CycleEvent(**event.model_dump())
    session.add(row)
    session.flush()
    return row


def events_after(
    session: Session, after_id: int, *, cell: str | None = None, limit: int = PAGE
) -> list[CycleEvent]:
    """Events with id > `after_id`, oldest first (at most `limit`)."""
    query = select(CycleEvent).where(CycleEvent.id > after_id)
    if cell is not None:
        query = query.where(CycleEvent.cell == cell)
    return list(session.scalars(query.order_by(CycleEvent.id).limit(limit)))


def latest_id(session: Session) -> int:
    return int(session.scalar(select(func.max(CycleEvent.id))) or 0)


def current_cycle_start(session: Session, cell: str | None = None) -> int:
    """Id just before the latest cycle's first event: where a page that opens mid-cycle starts."""
    query = select(CycleEvent).order_by(CycleEvent.id.desc()).limit(1)
    if cell is not None:
        query = query.where(CycleEvent.cell == cell)
    last = session.scalar(query)
    if last is None:
        return 0
    if not last.cycle_id:
        return last.id - 1
    first = session.scalar(select(func.min(CycleEvent.id)).where(CycleEvent.cycle_id == last.cycle_id))
    return int(first) - 1


class EventCursor:
    """Reads the events after an id, each once, without missing one that committed out of id order.

    PostgreSQL hands out ids at INSERT, so with two cells writing, id 11 can commit before id 10; a
    reader that only asked for `id > 11` afterwards would never see 10. The cursor keeps re-reading
    the rows younger than `settle_s` (the ids it already sent are skipped) and only moves its floor
    past rows older than that. A row whose transaction stays open longer than `settle_s` after the
    row was made could still be missed; the coordinator's are single INSERTs.
    """

    def __init__(self, after: int, *, settle_s: float = 2.0, clock=utcnow) -> None:
        self.floor = after
        self.settle = timedelta(seconds=settle_s)
        self.clock = clock
        self.sent: set[int] = set()

    @property
    def last_id(self) -> int:
        return max(self.sent, default=self.floor)

    def next(self, session: Session, cell: str | None = None) -> list[CycleEvent]:
        rows = events_after(session, self.floor, cell=cell, limit=PAGE + len(self.sent))
        new = [r for r in rows if r.id not in self.sent]
        horizon = self.clock() - self.settle
        for r in rows:  # the settled prefix: nothing older can still appear below these ids
            if r.created_at > horizon:
                break
            self.floor = r.id
        self.sent = {i for i in self.sent.union(r.id for r in new) if i > self.floor}
        return new


def to_out(row: CycleEvent) -> CycleEventOut:
    out = CycleEventOut.model_validate(row)
    if row.preview_sha256:
        out.preview_url = f"/api/v1/cycles/events/{row.id}/preview.png"
    return out


class ProgressLog:
    """The cell's handle: `append` one event per transaction (DatabaseUnavailableError: not written)."""

    def __init__(self, target: sessionmaker[Session] | Engine | str | None = None) -> None:
        self._factory = session_factory_for(target)

    def append(self, event: CycleEventIn) -> int:
        with unit_of_work(self._factory, immediate=True) as session:
            return append(session, event).id
