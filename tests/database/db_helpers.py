"""Helpers for the records tests: accounts, a builder of valid cycle records with real files, and
fault injection that kills a database connection in the middle of a transaction."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import psycopg
import sqlalchemy as sa
from sqlalchemy import Engine, event

from database.orm import CycleState, Role, Verdict
from database.services.recording import CaptureRecord, CycleRecord, DefectRecord, FrameRecord
from database.storage import ContentStore


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: Role
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


class RecordBuilder:
    """Builds valid `CycleRecord`s whose image and mask files really exist in the store."""

    def __init__(self, store: ContentStore) -> None:
        self.store = store
        self.rng = np.random.default_rng(0)

    def capture(self, viewpoint: int, size: int = 64, mask: np.ndarray | None = None) -> CaptureRecord:
        frames = []
        for channel, exposure in (("white", 5.0), ("uv", 12.0)):
            image = self.rng.integers(40, 200, (size, size), dtype=np.uint8)
            stored = self.store.put_image(image)
            frames.append(
                FrameRecord(channel=channel, path=stored.path, sha256=stored.sha256, exposure_ms=exposure)
            )
        mask = np.zeros((size, size), np.uint8) if mask is None else mask
        stored_mask = self.store.put_image(mask)
        return CaptureRecord(
            viewpoint_index=viewpoint,
            stage_pose=(0.0, 0.0, 0.01 * viewpoint, 0.0, 10.0 * viewpoint),
            width=size,
            height=size,
            frames=tuple(frames),
            mask_path=stored_mask.path,
            mask_sha256=stored_mask.sha256,
        )

    def record(
        self,
        serial: str = "SN-1",
        family: str = "HPT1",
        *,
        defects: list[dict] | None = None,
        viewpoints: int = 2,
        started_at: datetime | None = None,
        cell: str = "cell-1",
        model_version: str | None = None,
        request_uuid: uuid.UUID | None = None,
        cycle_uuid: uuid.UUID | None = None,
        state: CycleState = CycleState.DONE,
    ) -> CycleRecord:
        started = started_at or datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
        defect_records = []
        for spec in defects or []:
            spec = {
                "viewpoint_index": 0,
                "defect_class": "crack",
                "confidence": 0.9,
                "pixel_area": 20,
                "area_mm2": 0.5,
                "bbox": (10, 10, 8, 4),
                "contour": ((10, 10), (17, 10), (17, 13), (10, 13)),
                **spec,
            }
            defect_records.append(DefectRecord(**spec))
        return CycleRecord(
            cycle_uuid=cycle_uuid or uuid.uuid4(),
            blade_serial=serial,
            part_family=family,
            cell=cell,
            operator="tester",
            request_uuid=request_uuid,
            state=state,
            verdict=Verdict.FAIL
            if defect_records
            else (Verdict.PASS if state == CycleState.DONE else Verdict.INCOMPLETE),
            started_at=started,
            finished_at=started + timedelta(seconds=90),
            stage_timings={"scanning": 60.0, "detecting": 5.0},
            model_version=model_version,
            captures=tuple(self.capture(v) for v in range(viewpoints)),
            defects=tuple(defect_records),
        )


def png_bytes(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def _admin_conninfo(engine: Engine) -> str:
    url = engine.url.set(drivername="postgresql", database="postgres")
    return url.render_as_string(hide_password=False)


@contextmanager
def connection_dies_on(engine: Engine, statement_prefix: str) -> Iterator[list[str]]:
    """The first statement starting with `statement_prefix` finds its connection gone, as if the server
    restarted mid-transaction: PostgreSQL terminates the backend (pg_terminate_backend), SQLite has its
    connection closed under it. Yields the list of statements that were hit (one, once it fired)."""
    fired: list[str] = []

    def before_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        if fired or not statement.lstrip().upper().startswith(statement_prefix.upper()):
            return
        fired.append(statement)
        dbapi = conn.connection.dbapi_connection
        if conn.dialect.name == "postgresql":
            pid = dbapi.info.backend_pid
            with psycopg.connect(_admin_conninfo(engine), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = %s"
                for _ in range(500):  # wait until the backend has really gone
                    if admin.execute(gone, (pid,)).fetchone()[0]:
                        break
                    time.sleep(0.01)
        else:
            dbapi.close()

    event.listen(engine, "before_cursor_execute", before_execute)
    try:
        yield fired
    finally:
        event.remove(engine, "before_cursor_execute", before_execute)


# Population of the search tests (see the `population` fixture in conftest.py).
START = datetime(2026, 9, 7, 6, 0, tzinfo=UTC)  # a Monday
CLASSES = ("crack", "pit", "nick")


def all_defects(client, headers) -> list[dict]:
    response = client.get("/api/v1/defects", params={"limit": 500, "sort": "id"}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def walk(client, headers, params: dict, limit: int = 7) -> list[dict]:
    """Every page of a search, following next_cursor."""
    items, cursor, pages = [], None, 0
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/defects", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            return items
        assert pages < 100


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def insert_family(conn: sa.Connection) -> None:
    """Part family 1 ('F') by plain SQL: the migration tests write rows at old schema revisions."""
    conn.execute(
        sa.text("INSERT INTO part_families (id, code, name, created_at) VALUES (1, 'F', '', :t)"),
        {"t": "2026-01-01 00:00:00"},
    )
