"""The database going away mid-request: a clear 503 with Retry-After, nothing half-written, and the
service recovers by itself once the database answers again."""

from __future__ import annotations

import pytest
from db_helpers import connection_dies_on
from sqlalchemy import func, select

from database.orm import Blade, CycleRequest, PartFamily, ReviewStatus
from database.orm import Defect as DefectRow


def row_counts(factory) -> tuple[int, int, int]:
    with factory() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(t)) for t in (PartFamily, Blade, CycleRequest)
        )


def test_connection_lost_while_starting_a_cycle_is_503_with_nothing_written(
    client, users, engine, factory
) -> None:
    """Family and blade are inserted first, then the request: killing the connection at the request
    INSERT must roll the family and blade back too (an engineer may register them on the way)."""
    tech = users["eng"].headers
    with connection_dies_on(engine, "INSERT INTO cycle_requests") as fired:
        response = client.post(
            "/api/v1/cycles", json={"blade_serial": "SN-1", "part_family": "NEW-FAM"}, headers=tech
        )
    assert fired, "the fault was never injected"
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "nothing was written" in response.json()["detail"]
    assert row_counts(factory) == (0, 0, 0)
    # The next request gets a fresh connection: the service recovered without a restart.
    retry = client.post(
        "/api/v1/cycles", json={"blade_serial": "SN-1", "part_family": "NEW-FAM"}, headers=tech
    )
    assert retry.status_code == 202
    assert row_counts(factory) == (1, 1, 1)


def test_connection_lost_during_a_review_keeps_the_old_review(client, users, engine, factory, seeded) -> None:
    eng = users["eng"].headers
    defect_id = seeded["defect_ids"][0]
    with connection_dies_on(engine, "UPDATE defects"):
        response = client.patch(
            f"/api/v1/defects/{defect_id}/review", json={"review_status": "confirmed"}, headers=eng
        )
    assert response.status_code == 503
    with factory() as session:
        assert session.get(DefectRow, defect_id).review_status == ReviewStatus.UNREVIEWED
    again = client.patch(
        f"/api/v1/defects/{defect_id}/review", json={"review_status": "confirmed"}, headers=eng
    )
    assert again.status_code == 200 and again.json()["review_status"] == "confirmed"


def test_connection_lost_during_a_search_is_503_then_recovers(client, users, engine, seeded) -> None:
    eng = users["eng"].headers
    with connection_dies_on(engine, "SELECT page.") as fired:
        response = client.get("/api/v1/defects", headers=eng)
    assert fired and response.status_code == 503, response.text
    assert client.get("/api/v1/defects", headers=eng).json()["items"]
    health = client.get("/api/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_unreachable_database_is_503_on_every_endpoint_kind(tmp_path) -> None:
    """A server that is down (nothing listens) gives 503s, not 500s or hangs."""
    from fastapi.testclient import TestClient

    from database.api import create_app
    from database.settings import DatabaseSettings

    dead = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    with TestClient(create_app(DatabaseSettings(home=tmp_path, database_url=dead))) as client:
        key = {"X-API-Key": "bc_0123456789ab_" + "k" * 43}
        for method, path in (
            ("GET", "/api/v1/health"),
            ("GET", "/api/v1/defects"),
            ("POST", "/api/v1/cycles"),
        ):
            response = client.request(method, path, headers=key, json={})
            assert response.status_code == 503, (path, response.text)
            assert response.headers["retry-after"] == "5"


@pytest.mark.postgres
def test_no_free_connection_is_a_503_not_a_500(postgres_url, tmp_path) -> None:
    """Every pooled connection busy (a burst beyond capacity): the request waits the pool timeout and
    is answered 503 with Retry-After, like an outage, instead of an internal error."""
    from fastapi.testclient import TestClient

    from database.api import create_app
    from database.engine import create_db_engine
    from database.settings import DatabaseSettings

    engine = create_db_engine(postgres_url, pool_size=1, pool_timeout_s=0.3)  # 1 + 1 overflow
    held = [engine.connect(), engine.connect()]
    try:
        app = create_app(DatabaseSettings(home=tmp_path, database_url=postgres_url), engine)
        with TestClient(app) as client:
            response = client.get("/api/v1/health")
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert "every database connection is in use" in response.json()["detail"]
    finally:
        for connection in held:
            connection.close()
        engine.dispose()
