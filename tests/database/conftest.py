"""Fixtures for the records package: every test runs on SQLite AND on PostgreSQL.

`db_url` is parametrised over both backends (the PostgreSQL one is a fresh database from the shared
`postgres_url` fixture and carries the `postgres` marker); `engine` builds the schema from the Alembic
migration's own SQL, so every test runs against the schema the migrations build, not `create_all`
(test_migrations.py runs the online upgrade and downgrade themselves).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from db_helpers import CLASSES, START, Account, RecordBuilder
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from database import migrate
from database.engine import create_db_engine, make_session_factory
from database.orm import Role
from database.services import accounts
from database.settings import DatabaseSettings
from database.storage import ContentStore

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # starlette's TestClient warns that httpx is deprecated in favour of httpx2; not our concern here.
    for item in items:
        if "tests/database" in str(item.fspath):
            item.add_marker(pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`"))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records.sqlite3'}"
    return request.getfixturevalue("postgres_url")


_MIGRATION_SQL: dict[str, str] = {}


def apply_migration_script(engine: Engine) -> None:
    """Build the schema by running the migrations' own SQL (Alembic offline mode, generated once per
    backend and session) in one round trip: the same DDL as `migrate.upgrade`, at a fraction of the
    time on a loaded machine. test_migrations.py exercises the online upgrade/downgrade itself."""
    backend = engine.dialect.name
    if backend not in _MIGRATION_SQL:
        _MIGRATION_SQL[backend] = migrate.offline_sql(engine.url.render_as_string(hide_password=False))
    raw = engine.raw_connection()
    try:
        if backend == "sqlite":
            raw.driver_connection.executescript(_MIGRATION_SQL[backend])
        else:
            with raw.cursor() as cursor:
                cursor.execute(_MIGRATION_SQL[backend])
            raw.commit()
    finally:
        raw.close()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url, pool_size=4)
    apply_migration_script(engine)
    assert migrate.is_up_to_date(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def store(home: Path) -> ContentStore:
    return ContentStore(home)


@pytest.fixture
def settings(db_url: str, home: Path) -> DatabaseSettings:
    return DatabaseSettings(home=home, database_url=db_url, max_upload_bytes=1_000_000)


@pytest.fixture
def app(settings: DatabaseSettings, engine: Engine):
    from database.api import create_app

    return create_app(settings, engine)


@pytest.fixture
def client(app) -> Iterator:
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        yield client


@pytest.fixture
def users(factory: sessionmaker[Session]) -> dict[str, Account]:
    """tech, tech2 (technicians), eng (engineer), admin, each with one API key."""
    made = {}
    with factory() as session:
        for name, role in (
            ("tech", Role.TECHNICIAN),
            ("tech2", Role.TECHNICIAN),
            ("eng", Role.ENGINEER),
            ("admin", Role.ADMIN),
        ):
            user = accounts.create_user(session, name, role)
            _, key = accounts.create_api_key(session, user, f"{name} key")
            made[name] = Account(user.id, name, role, key)
        session.commit()
    return made


@pytest.fixture
def builder(store: ContentStore) -> RecordBuilder:
    return RecordBuilder(store)


@pytest.fixture
def seeded(factory, builder, users) -> dict:
    """One recorded cycle (3 defects, real images and mask) with a deployed model, plus the users."""
    import numpy as np

    from database.services import CycleRecorder, ModelCandidate, ModelRegistry

    registry = ModelRegistry(factory)
    model = registry.register_candidate(
        ModelCandidate(
            version="hpt1-v1", part_family="HPT1", architecture={"ops": ["conv"]}, weights_path="w.pt"
        )
    )
    registry.deploy("hpt1-v1")
    mask = np.zeros((64, 64), np.uint8)
    mask[10:14, 10:18] = 1
    record = builder.record(
        "SN-SEED",
        "HPT1",
        model_version="hpt1-v1",
        defects=[{}, {"defect_class": "pit", "area_mm2": 2.0, "confidence": 0.6}, {"viewpoint_index": 1}],
    )
    record = record.model_copy(update={"captures": (builder.capture(0, mask=mask), record.captures[1])})
    result = CycleRecorder(factory).record(record)
    with factory() as session:
        from sqlalchemy import select

        from database.orm import Defect

        defect_ids = list(session.scalars(select(Defect.id).order_by(Defect.id)))
    return {"cycle_id": result.cycle_id, "model_id": model.id, "defect_ids": defect_ids, "users": users}


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app served by a real uvicorn on a free local port (browser and schemathesis need real HTTP)."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def population(factory, builder, users) -> None:
    """~40 defects over 2 families, 5 blades, 2 cells, 3 models, 6 weeks (tests read them via the API)."""
    import random

    from database.services import CycleRecorder, ModelCandidate, ModelRegistry

    rng = random.Random(7)
    registry = ModelRegistry(factory)
    for version, family in (("hpt1-v1", "HPT1"), ("hpt1-v2", "HPT1"), ("lpt2-v1", "LPT2")):
        registry.register_candidate(
            ModelCandidate(version=version, part_family=family, architecture={}, weights_path="w.pt")
        )
    recorder = CycleRecorder(factory)
    blades = [("HPT1", "H-001"), ("HPT1", "H-002"), ("HPT1", "H-003"), ("LPT2", "L-001"), ("LPT2", "L-002")]
    for i in range(10):
        family, serial = blades[i % len(blades)]
        model = "lpt2-v1" if family == "LPT2" else ("hpt1-v1" if i < 5 else "hpt1-v2")
        defects = [
            {
                "viewpoint_index": rng.randrange(2),
                "defect_class": rng.choice(CLASSES),
                "confidence": round(rng.uniform(0.3, 0.99), 2),
                "area_mm2": round(rng.choice([0.5, 1.0, 1.0, 2.5, 4.0, 8.0]), 2),  # ties on purpose
            }
            for _ in range(rng.randrange(2, 7))
        ]
        recorder.record(
            builder.record(
                serial,
                family,
                defects=defects,
                started_at=START + timedelta(days=4 * i, hours=i),
                cell="cell-1" if i % 3 else "cell-2",
                model_version=model,
            )
        )
