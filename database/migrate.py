"""Schema migrations, callable from Python (tests, CLI, the cell's start-up) as well as from `alembic`.

Schema changes happen only through the revisions in `database/migrations/versions/`; `upgrade` takes an
empty database (SQLite file or PostgreSQL) to the newest schema, `downgrade(..., "base")` removes it.
"""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from .engine import create_db_engine, normalize_url

ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"


def alembic_config(engine: Engine | None = None, url: str | None = None) -> Config:
    """An Alembic `Config` for this package's migrations, bound to `engine` or `url` when given."""
    config = Config(str(ALEMBIC_INI))
    config.attributes["configure_logging"] = False  # never reconfigure the host application's logging
    if url is not None:
        config.attributes["url"] = url
    config.attributes["engine"] = engine
    return config


def _run(engine: Engine, action: str, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def _engine(target: Engine | str) -> tuple[Engine, bool]:
    if isinstance(target, Engine):
        return target, False
    return create_db_engine(target), True


def upgrade(target: Engine | str, revision: str = "head") -> None:
    """Migrate the database at `target` (engine or URL) up to `revision`."""
    engine, owned = _engine(target)
    try:
        _run(engine, "upgrade", revision)
    finally:
        if owned:
            engine.dispose()


def downgrade(target: Engine | str, revision: str) -> None:
    """Migrate down to `revision` ("base" removes every table this package created)."""
    engine, owned = _engine(target)
    try:
        _run(engine, "downgrade", revision)
    finally:
        if owned:
            engine.dispose()


def head_revision() -> str:
    """The newest revision id shipped with this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration revisions found"
    return head


def current_revision(target: Engine | str) -> str | None:
    """The revision the database is at (None: empty / never migrated)."""
    engine, owned = _engine(target)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def is_up_to_date(target: Engine | str) -> bool:
    return current_revision(target) == head_revision()


def offline_sql(url: str, revision: str = "head") -> str:
    """The SQL script the migrations would run on `url`'s backend (Alembic offline mode), for review by a
    DBA or to apply with the database's own tools. Nothing is executed."""
    buffer = io.StringIO()
    config = alembic_config(url=normalize_url(url))
    config.output_buffer = buffer
    command.upgrade(config, revision, sql=True)
    return buffer.getvalue()
