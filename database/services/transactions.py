"""Transactions for the cell's Python APIs: one transaction per call, database faults made explicit.

A lost connection, a server restart or a locked SQLite file surfaces as `DatabaseUnavailableError`
after the transaction was rolled back, so callers (the coordinator, the recorder node) know nothing
was written and can simply retry the same call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..engine import create_db_engine, make_session_factory, write_transaction
from ..errors import DatabaseUnavailableError
from ..settings import load_settings


def is_unavailable(exc: BaseException) -> bool:
    """True for errors that mean 'the database is not reachable right now' (retry later)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError) and "no such table" in str(exc.orig):
        return False  # an un-migrated SQLite file is a set-up error, not an outage
    return isinstance(exc, OperationalError | InterfaceError)


def session_factory_for(target: sessionmaker[Session] | Engine | str | None) -> sessionmaker[Session]:
    """Accept a session factory, an engine, a URL, or None (the configured database)."""
    if isinstance(target, sessionmaker):
        return target
    if isinstance(target, Engine):
        return make_session_factory(target)
    settings = load_settings()
    return make_session_factory(create_db_engine(target or settings.url, pool_size=settings.pool_size))


@contextmanager
def unit_of_work(factory: sessionmaker[Session], *, immediate: bool = False) -> Iterator[Session]:
    try:
        with write_transaction(factory, immediate=immediate) as session:
            yield session
    except DBAPIError as exc:
        if is_unavailable(exc):
            raise DatabaseUnavailableError(
                f"database unavailable, nothing was written: {type(exc.orig).__name__}: {exc.orig}"
            ) from exc
        raise
