"""Engines and sessions for SQLite (embedded default) and PostgreSQL (plant server).

SQLite is configured for a multi-process cell: WAL journal (readers never block the writer), foreign
keys on, a busy timeout, and SQLAlchemy (not the sqlite3 driver) emitting BEGIN so transactions are
real. A connection opened with the execution option `sqlite_begin="IMMEDIATE"` takes the write lock at
BEGIN, which is how the request queue claims work atomically without SELECT ... FOR UPDATE.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 15_000


def normalize_url(url: str) -> str:
    """Plain `postgresql://` URLs use psycopg 3 (the driver this project installs), not psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see `_on_begin`)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(
                f"sqlite_begin execution option must be DEFERRED/IMMEDIATE/EXCLUSIVE, not {mode!r}"
            )
        conn.exec_driver_sql(f"BEGIN {mode}")


def create_db_engine(
    url: str,
    *,
    pool_size: int = 5,
    statement_timeout_ms: int = 30_000,
    pool_timeout_s: float = 30.0,
    echo: bool = False,
) -> Engine:
    """An engine for `url` with the settings each backend needs; creates the SQLite file's folder."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 15})
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    if parsed.get_backend_name() == "postgresql" and statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout_s,  # waiting longer for a free connection ends in a 503 (api/errors.py)
        pool_pre_ping=True,  # a server restart leaves stale pooled connections; replace them quietly
        pool_recycle=1800,
        connect_args=connect_args,
    )


def is_postgres(engine_or_session: Engine | Session) -> bool:
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    return bind.dialect.name == "postgresql"


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit, so results can be returned once the transaction ends."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def write_transaction(factory: sessionmaker[Session], *, immediate: bool = False) -> Iterator[Session]:
    """One session, one transaction: committed on success, rolled back on any exception.

    `immediate=True` takes SQLite's write lock at BEGIN (PostgreSQL ignores it; use row locks there).
    """
    with factory(execution_options={"sqlite_begin": "IMMEDIATE"} if immediate else {}) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
