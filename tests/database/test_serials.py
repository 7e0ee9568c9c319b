"""Blade serials have one form: NFKC, invisible characters removed, spaces collapsed, upper case.

'sn-1', 'ＳＮ-1' (full-width) and 'SN\u200b-1' (a zero-width space) used to be three blades.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from db_helpers import insert_family

from database import migrate
from database.engine import create_db_engine
from database.errors import InvalidInputError
from database.services.catalog import normalize_serial

SAME_AS_SN_1 = ["SN-1", "sn-1", "ＳＮ－１", "SN\u200b-1", "\ufeffSN-1", "S\u00adN-1", " SN-1\u2060 ", "Sn-1"]


@pytest.mark.parametrize("text", SAME_AS_SN_1)
def test_variants_of_one_serial_normalise_to_one_form(text: str) -> None:
    assert normalize_serial(text) == "SN-1"


def test_normalisation_keeps_what_distinguishes_serials() -> None:
    assert normalize_serial("SN  1") == "SN 1"  # runs of spaces (incl. no-break) collapse to one
    assert normalize_serial("SN\u00a01") == "SN 1"
    assert normalize_serial("straße-1") == "STRASSE-1"
    assert len({normalize_serial(s) for s in ("SN-1", "SN-01", "SN-1A", "SN_1")}) == 4
    for bad in ("\u200b", "   ", "SN\n1", "x" * 65):
        with pytest.raises(InvalidInputError):
            normalize_serial(bad)


def test_the_api_treats_variants_as_one_blade(client, users) -> None:
    eng, tech = users["eng"].headers, users["tech"].headers
    created = client.post("/api/v1/blades", json={"serial": "sn-1", "part_family": "HPT1"}, headers=eng)
    assert created.status_code == 201 and created.json()["serial"] == "SN-1"
    for variant in SAME_AS_SN_1:
        again = client.post("/api/v1/blades", json={"serial": variant, "part_family": "HPT1"}, headers=eng)
        assert again.status_code == 409, variant
        assert "blade serial 'SN-1' is already registered" in again.json()["detail"]
    started = client.post(
        "/api/v1/cycles", json={"blade_serial": "ＳＮ-1", "part_family": "HPT1"}, headers=tech
    )
    assert started.status_code == 202 and started.json()["blade_serial"] == "SN-1"
    history = client.get("/api/v1/blades/sn\u200b-1/history", headers=eng)
    assert history.status_code == 200 and history.json()["blade"]["serial"] == "SN-1"
    found = client.get("/api/v1/defects", params={"blade_serial": "sn-1"}, headers=eng)
    assert found.status_code == 200
    blades = client.get("/api/v1/blades", params={"serial_prefix": "sn"}, headers=eng).json()
    assert [b["serial"] for b in blades] == ["SN-1"]


def _insert_blade(conn, blade_id: int, serial: str) -> None:
    conn.execute(
        sa.text("INSERT INTO blades (id, serial, part_family_id, created_at) VALUES (:i, :s, 1, :t)"),
        {"i": blade_id, "s": serial, "t": "2026-01-01 00:00:00"},
    )


def test_serial_migration_reports_collisions_then_normalises(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        migrate.upgrade(engine, "0003")
        with engine.begin() as conn:
            insert_family(conn)
            for i, serial in enumerate(["SN-1", "sn-1", "ＳＮ-2", "SN\u200b3", "SN-4"], start=1):
                _insert_blade(conn, i, serial)
        with pytest.raises(RuntimeError) as refused:
            migrate.upgrade(engine)
        message = str(refused.value)
        assert "'SN-1' <- blades 1 'SN-1', 2 'sn-1'" in message and "SN-2" not in message
        assert migrate.current_revision(engine) == "0003"
        with engine.connect() as conn:  # nothing was merged or renamed
            serials = conn.execute(sa.text("SELECT serial FROM blades ORDER BY id")).scalars().all()
        assert serials == ["SN-1", "sn-1", "ＳＮ-2", "SN\u200b3", "SN-4"]

        with engine.begin() as conn:  # the operator resolves the collision (here: a mistyped duplicate)
            conn.execute(sa.text("UPDATE blades SET serial = 'SN-1-DUP' WHERE id = 2"))
        migrate.upgrade(engine)
        with engine.connect() as conn:
            serials = conn.execute(sa.text("SELECT serial FROM blades ORDER BY id")).scalars().all()
        assert serials == ["SN-1", "SN-1-DUP", "SN-2", "SN3", "SN-4"]
        assert all(normalize_serial(s) == s for s in serials)  # the migration's rule is the service's
    finally:
        engine.dispose()


def test_the_migration_applies_the_services_rule() -> None:
    import importlib.util

    import database.migrations.versions as versions

    (folder,) = versions.__path__
    spec = importlib.util.spec_from_file_location("m0004", f"{folder}/0004_normalise_blade_serials.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    samples = [*SAME_AS_SN_1, "SN  1", "SN\u00a01", "straße-1", "ｂｌａｄｅ\u200d７", "ＳＮ\u3000２", "x-ǆ-1"]
    assert [module._normal(s) for s in samples] == [normalize_serial(s) for s in samples]


def test_lookups_with_text_that_cannot_be_a_serial_find_nothing(client, users) -> None:
    eng = users["eng"].headers
    assert (
        client.post("/api/v1/blades", json={"serial": "SN-1", "part_family": "HPT1"}, headers=eng).status_code
        == 201
    )
    assert client.get("/api/v1/blades", params={"serial_prefix": "\u200b"}, headers=eng).json() == []
    assert client.get("/api/v1/blades", params={"serial_prefix": "S\x15"}, headers=eng).json() == []
    found = client.get("/api/v1/defects", params={"blade_serial": "\u200b"}, headers=eng)
    assert found.status_code == 200 and found.json()["items"] == []
    assert client.get("/api/v1/blades/%E2%80%8B/history", headers=eng).status_code == 404
    refused = client.post("/api/v1/blades", json={"serial": "\u200b", "part_family": "HPT1"}, headers=eng)
    assert refused.status_code == 422 and "no visible characters" in refused.text
    c1 = client.post("/api/v1/blades", json={"serial": "SN\x851", "part_family": "HPT1"}, headers=eng)
    assert c1.status_code == 422  # a C1 control is refused by the schema's pattern already
