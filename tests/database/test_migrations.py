"""Alembic: upgrade from an empty database, downgrade to base, and the ORM matches the migration."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from db_helpers import insert_family

from database import migrate
from database.engine import create_db_engine
from database.orm import Base

STATION_TABLES = {"blade_models", "cycle_events"}
EXPECTED_TABLES = {
    "annotations",
    "api_keys",
    "blade_models",
    "blades",
    "capture_frames",
    "captures",
    "cycle_events",
    "cycle_requests",
    "defects",
    "inspection_cycles",
    "models",
    "part_families",
    "users",
}
MODEL_LIFE_TABLES = {  # revision 0005
    "dataset_snapshots",
    "label_corrections",
    "model_events",
    "model_health_checks",
    "model_lineage",
    "model_policies",
}
EXPECTED_TABLES |= MODEL_LIFE_TABLES


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_then_downgrade_to_base_and_back(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        assert _tables(engine) == set()
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert _tables(engine) == EXPECTED_TABLES
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert migrate.is_up_to_date(engine)
        indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("defects")}
        assert {
            "ix_defects_part_family_id_detected_at",
            "ix_defects_detected_at_id",
            "ix_defects_family_class_detected_at",
            "ix_defects_model_class_detected_at",
        } <= indexes

        migrate.downgrade(engine, "0001")  # one step back: only revision 0002's indexes go
        indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("defects")}
        assert "ix_defects_family_class_detected_at" not in indexes and "ix_defects_detected_at_id" in indexes
        assert _tables(engine) == EXPECTED_TABLES - STATION_TABLES - MODEL_LIFE_TABLES  # 0005, 0006
        assert migrate.current_revision(engine) == "0001"

        migrate.downgrade(engine, "base")
        assert _tables(engine) == set()
        assert migrate.current_revision(engine) is None

        migrate.upgrade(engine)  # a second upgrade from empty works too (downgrade left nothing behind)
        assert _tables(engine) == EXPECTED_TABLES
    finally:
        engine.dispose()


def _autogenerate_diff(engine: sa.Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_orm_metadata_matches_migration(db_url: str) -> None:
    """Autogenerate finds nothing to do: the models and the migration describe the same schema."""
    engine = create_db_engine(db_url)
    try:
        migrate.upgrade(engine)
        assert _autogenerate_diff(engine) == []
    finally:
        engine.dispose()


def test_offline_script_builds_the_same_schema(engine: sa.Engine) -> None:
    """The fixtures' fast path (the migrations' offline SQL) yields the schema the models describe."""
    assert _tables(engine) == EXPECTED_TABLES
    assert _autogenerate_diff(engine) == []


def test_upgrade_by_url_uses_its_own_engine(db_url: str) -> None:
    migrate.upgrade(db_url)
    assert migrate.current_revision(db_url) == migrate.head_revision()
    migrate.downgrade(db_url, "base")
    assert migrate.current_revision(db_url) is None


def test_one_deployed_model_per_family_is_enforced_by_the_schema(engine: sa.Engine) -> None:
    """The partial unique index exists on both backends: a second deployed model is refused."""
    with engine.begin() as conn:
        insert_family(conn)
        insert = sa.text(
            "INSERT INTO models (version, part_family_id, status, architecture, metrics, latency_device,"
            " weights_path, dataset_snapshot, notes, created_at)"
            " VALUES (:v, 1, :s, '{}', '{}', '', 'w', '', '', :t)"
        )
        conn.execute(insert, {"v": "a", "s": "deployed", "t": "2026-01-01 00:00:00"})
        conn.execute(insert, {"v": "b", "s": "retired", "t": "2026-01-01 00:00:00"})
    try:
        with engine.begin() as conn:
            conn.execute(insert, {"v": "c", "s": "deployed", "t": "2026-01-01 00:00:00"})
    except sa.exc.IntegrityError:
        pass
    else:  # pragma: no cover - the assertion below names the failure
        raise AssertionError("a second deployed model for one family was accepted")
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM models WHERE status = 'deployed'")).scalar_one() == 1
        )


def _insert_request(conn, serial: str, state: str) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO cycle_requests (request_uuid, blade_serial, part_family_code, options, state,"
            " progress, created_at, updated_at) VALUES (:u, :s, 'F', '{}', :st, '', :t, :t)"
        ),
        {"u": uuid.uuid4().hex, "s": serial, "st": state, "t": "2026-01-01 00:00:00"},
    )


def test_one_active_request_per_blade_migration_reports_duplicates_then_enforces(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        migrate.upgrade(engine, "0002")
        with engine.begin() as conn:
            _insert_request(conn, "SN-1", "queued")
            _insert_request(conn, "SN-1", "running")
            _insert_request(conn, "SN-2", "queued")
            _insert_request(conn, "SN-2", "done")
        with pytest.raises(RuntimeError, match=r"more than one active cycle request: 'SN-1' \(2\); cancel"):
            migrate.upgrade(engine)
        assert migrate.current_revision(engine) == "0002"  # nothing changed: the operator decides
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE cycle_requests SET state = 'cancelled' WHERE state = 'running'"))
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            _insert_request(conn, "SN-2", "claimed")
        with engine.begin() as conn:  # finished requests do not count
            _insert_request(conn, "SN-1", "failed")
    finally:
        engine.dispose()


def test_family_sort_indexes_migration_adds_and_removes_only_its_indexes(db_url: str) -> None:
    from database.orm.defects import FAMILY_SORT_INDEXES

    engine = create_db_engine(db_url)
    try:
        migrate.upgrade(engine, "0004")
        before = {ix["name"] for ix in sa.inspect(engine).get_indexes("defects")}
        assert not set(FAMILY_SORT_INDEXES) & before

        migrate.upgrade(engine, "0007")
        found = {ix["name"]: ix["column_names"] for ix in sa.inspect(engine).get_indexes("defects")}
        assert {name: found.get(name) for name in FAMILY_SORT_INDEXES} == FAMILY_SORT_INDEXES
        assert set(found) == before | set(FAMILY_SORT_INDEXES)

        migrate.downgrade(engine, "0004")
        assert {ix["name"] for ix in sa.inspect(engine).get_indexes("defects")} == before
    finally:
        engine.dispose()


def test_model_life_migration_keeps_records_and_downgrades_to_0004(db_url: str) -> None:
    """0005 adds only tables: a model and an annotation recorded at 0004 survive upgrade and downgrade."""
    engine = create_db_engine(db_url)
    try:
        migrate.upgrade(engine, "0004")
        with engine.begin() as conn:
            insert_family(conn)
            conn.execute(
                sa.text(
                    "INSERT INTO models (id, version, part_family_id, status, architecture, metrics,"
                    " latency_device, weights_path, dataset_snapshot, notes, created_at)"
                    " VALUES (1, 'v1', 1, 'deployed', '{}', '{}', '', 'w', '', '', :t)"
                ),
                {"t": "2026-01-01 00:00:00"},
            )
        migrate.upgrade(engine)
        assert _tables(engine) == EXPECTED_TABLES
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO model_events (model_id, part_family_id, action, actor, reason, figures,"
                    " created_at) VALUES (1, 1, 'promoted', 'eng', '', '{}', :t)"
                ),
                {"t": "2026-01-01 00:00:00"},
            )
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # the CHECK of the enum
            conn.execute(
                sa.text(
                    "INSERT INTO model_events (model_id, part_family_id, action, actor, reason, figures,"
                    " created_at) VALUES (1, 1, 'exploded', 'eng', '', '{}', :t)"
                ),
                {"t": "2026-01-01 00:00:00"},
            )
        migrate.downgrade(engine, "0004")
        assert _tables(engine) == EXPECTED_TABLES - MODEL_LIFE_TABLES - STATION_TABLES  # 0005, 0006
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version FROM models")).scalars().all() == ["v1"]
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_input_shift_migration_retires_relative_thresholds_and_keeps_the_rest(db_url: str, caplog) -> None:
    """0008: a family's relative input-shift thresholds have no meaning in training sd; they are taken
    out (and logged), the family's other thresholds stay."""
    import json

    engine = create_db_engine(db_url)
    try:
        migrate.upgrade(engine, "0007")
        with engine.begin() as conn:
            insert_family(conn)
            conn.execute(
                sa.text(
                    "INSERT INTO model_policies (part_family_id, thresholds, updated_at) VALUES (1, :j, :t)"
                ),
                {"j": json.dumps({"input_shift_retrain": 0.3, "latency_ratio": 2.0}), "t": "2026-01-01"},
            )
        with caplog.at_level("WARNING"):
            migrate.upgrade(engine, "0008")
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT thresholds FROM model_policies")).scalar_one()
        stored = json.loads(stored) if isinstance(stored, str) else stored
        assert stored == {"latency_ratio": 2.0}
        assert "part family F" in caplog.text and "'input_shift_retrain': 0.3" in caplog.text
    finally:
        engine.dispose()
