"""Defect search through the API: every filter against a Python reference, keyset pagination for every
sort, clear 422s for malformed input, SQL-looking strings as plain data, 409 duplicates, 404s."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import quote

from db_helpers import all_defects, parse_time, walk

from database.services import CycleRecorder

FILTERS = [
    ({"blade_serial": "H-002"}, lambda d: d["blade_serial"] == "H-002"),
    ({"part_family": "LPT2"}, lambda d: d["part_family"] == "LPT2"),
    ({"defect_class": ["crack", "nick"]}, lambda d: d["defect_class"] in ("crack", "nick")),
    ({"min_area_mm2": 1.0, "max_area_mm2": 4.0}, lambda d: 1.0 <= d["area_mm2"] <= 4.0),
    ({"min_confidence": 0.8}, lambda d: d["confidence"] >= 0.8),
    ({"max_confidence": 0.5}, lambda d: d["confidence"] <= 0.5),
    (
        {"detected_from": "2026-09-15T00:00:00Z", "detected_to": "2026-10-01T00:00:00Z"},
        lambda d: (
            datetime(2026, 9, 15, tzinfo=UTC)
            <= parse_time(d["detected_at"])
            < datetime(2026, 10, 1, tzinfo=UTC)
        ),
    ),
    (
        {"detected_from": "2026-09-20T00:00:00"},
        lambda d: parse_time(d["detected_at"]) >= datetime(2026, 9, 20, tzinfo=UTC),
    ),
    ({"cell": "cell-2"}, lambda d: d["cell"] == "cell-2"),
    ({"model_version": "hpt1-v2"}, lambda d: d["model_version"] == "hpt1-v2"),
    ({"review_status": "unreviewed"}, lambda d: d["review_status"] == "unreviewed"),
    (
        {"part_family": "HPT1", "defect_class": "pit", "min_confidence": 0.5, "cell": "cell-1"},
        lambda d: (
            d["part_family"] == "HPT1"
            and d["defect_class"] == "pit"
            and d["confidence"] >= 0.5
            and d["cell"] == "cell-1"
        ),
    ),
    ({"blade_serial": "NO-SUCH"}, lambda d: False),
    ({"model_version": "no-such"}, lambda d: False),
]


def test_filters_match_a_python_reference(client, users, population) -> None:
    """Each filter (walked page by page) returns exactly the rows a Python filter over all rows keeps."""
    headers = users["eng"].headers
    everything = all_defects(client, headers)
    assert len(everything) > 20
    failures = []
    for params, keep in FILTERS:
        expected = sorted(
            (d for d in everything if keep(d)), key=lambda d: (d["detected_at"], d["id"]), reverse=True
        )
        got = walk(client, headers, params)
        if [d["id"] for d in got] != [d["id"] for d in expected]:
            failures.append(f"{params}: got {[d['id'] for d in got]}, expected {[d['id'] for d in expected]}")
        total = client.get(
            "/api/v1/defects", params={**params, "include_total": True}, headers=headers
        ).json()
        if total["total"] != len(expected):
            failures.append(f"{params}: total {total['total']} != {len(expected)}")
    assert failures == [], "\n".join(failures)
    assert sum(1 for _, keep in FILTERS if any(keep(d) for d in everything)) >= 10  # filters are not vacuous


SORTS = ["detected_at", "-detected_at", "area_mm2", "-area_mm2", "confidence", "-confidence", "id", "-id"]


def test_keyset_pagination_visits_every_row_once_in_order(client, users, population) -> None:
    headers = users["eng"].headers
    everything = all_defects(client, headers)
    for sort in SORTS:
        field, descending = sort.lstrip("-"), sort.startswith("-")
        expected = sorted(everything, key=lambda d: (d[field], d["id"]), reverse=descending)
        got = walk(client, headers, {"sort": sort}, limit=4)
        assert [d["id"] for d in got] == [d["id"] for d in expected], sort


def test_pages_stay_stable_while_new_defects_arrive(client, users, population, builder, factory) -> None:
    headers = users["eng"].headers
    before = all_defects(client, headers)
    first = client.get("/api/v1/defects", params={"limit": 10}, headers=headers).json()
    CycleRecorder(factory).record(
        builder.record("H-NEW", "HPT1", defects=[{}, {}], started_at=datetime.now(UTC))
    )
    rest = walk(client, headers, {"cursor": first["next_cursor"]}, limit=10)
    seen = [d["id"] for d in first["items"] + rest]
    assert sorted(seen) == sorted(d["id"] for d in before)  # nothing skipped, nothing repeated


BAD_QUERIES = [
    ({"limit": 0}, "limit", "greater than or equal to 1"),
    ({"limit": 100000}, "limit", "less than or equal to 500"),
    ({"sort": "password"}, "sort", "Input should be 'detected_at'"),
    (
        {"min_area_mm2": 5, "max_area_mm2": 1},
        "query",
        "min_area_mm2 (5.0) is greater than max_area_mm2 (1.0)",
    ),
    ({"min_confidence": 2}, "min_confidence", "less than or equal to 1"),
    ({"detected_from": "last tuesday"}, "detected_from", "expected an ISO 8601 date and time"),
    ({"detected_to": "0.5"}, "detected_to", "expected an ISO 8601 date and time"),  # not a Unix time
    (
        {"detected_from": "2026-10-02T00:00:00Z", "detected_to": "2026-10-01T00:00:00Z"},
        "query",
        "detected_from (2026-10-02 00:00:00+00:00) is greater than detected_to",
    ),
    ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ({"defect_class": "Crack!"}, "defect_class", "should match pattern"),
    ({"review_status": "maybe"}, "review_status", "'unreviewed', 'confirmed' or 'false_positive'"),
    ({"blade_serial": "S" * 65}, "blade_serial", "at most 64 characters"),
    ({"cursor": "not-a-cursor!!"}, "cursor", "malformed cursor"),
    ({"min_area_mm2": "NaN"}, "min_area_mm2", ""),
]


def test_malformed_filters_are_422_naming_the_field(client, users) -> None:
    failures = []
    for params, field, message in BAD_QUERIES:
        response = client.get("/api/v1/defects", params=params, headers=users["eng"].headers)
        if response.status_code != 422:
            failures.append(f"{params}: {response.status_code}")
            continue
        errors = response.json()["detail"]
        if not any(field in e["loc"] and message in e["msg"] for e in errors):
            failures.append(f"{params}: no error at {field!r} saying {message!r}: {errors}")
    assert failures == [], "\n".join(failures)


def test_cursor_from_another_sort_is_refused(client, users, population) -> None:
    headers = users["eng"].headers
    cursor = client.get("/api/v1/defects", params={"limit": 2, "sort": "-area_mm2"}, headers=headers).json()[
        "next_cursor"
    ]
    response = client.get("/api/v1/defects", params={"cursor": cursor, "sort": "confidence"}, headers=headers)
    assert response.status_code == 422
    assert "issued for sort '-area_mm2'" in response.json()["detail"][0]["msg"]


SQLISH = ["SN'; DROP TABLE defects; --", "' OR '1'='1", 'x" OR 1=1 --', "%", "_", "\\", "SN/1?#&=<script>"]


def test_sql_looking_strings_are_just_data(client, users, builder, factory) -> None:
    headers = users["eng"].headers
    recorder = CycleRecorder(factory)
    for i, serial in enumerate(SQLISH):
        recorder.record(builder.record(serial, "HPT1", defects=[{}] * (i + 1)))
    for i, serial in enumerate(SQLISH):
        found = walk(client, headers, {"blade_serial": serial})
        assert len(found) == i + 1 and {d["blade_serial"] for d in found} == {serial.upper()}  # one case
        history = client.get(f"/api/v1/blades/{quote(serial, safe='')}/history", headers=headers)
        assert history.status_code == 200, (serial, history.text)
        assert history.json()["blade"]["serial"] == serial.upper()
    assert (
        client.get("/api/v1/defects", params={"blade_serial": "' OR 1=1 --"}, headers=headers).json()["items"]
        == []
    )
    prefix = client.get("/api/v1/blades", params={"serial_prefix": "%"}, headers=headers).json()
    assert [b["serial"] for b in prefix] == ["%"]  # LIKE wildcards are escaped, not interpreted
    assert len(all_defects(client, headers)) == sum(range(1, len(SQLISH) + 1))  # the table is still there
    created = client.post(
        "/api/v1/blades", json={"serial": "'; DELETE FROM blades; --", "part_family": "HPT1"}, headers=headers
    )
    assert created.status_code == 201 and created.json()["serial"] == "'; DELETE FROM BLADES; --"
    assert len(client.get("/api/v1/blades", params={"limit": 500}, headers=headers).json()) == len(SQLISH) + 1


def test_duplicate_serial_is_a_clear_409(client, users) -> None:
    headers = users["eng"].headers
    assert (
        client.post(
            "/api/v1/blades", json={"serial": "SN-1", "part_family": "HPT1"}, headers=headers
        ).status_code
        == 201
    )
    again = client.post("/api/v1/blades", json={"serial": "SN-1", "part_family": "LPT2"}, headers=headers)
    assert again.status_code == 409
    assert again.json()["detail"] == "blade serial 'SN-1' is already registered (part family 'HPT1')"
    family = client.post("/api/v1/part-families", json={"code": "HPT1"}, headers=headers)
    assert family.status_code == 409 and "already exists" in family.json()["detail"]


UNKNOWN_IDS = [
    "/api/v1/defects/987654",
    "/api/v1/defects/987654/overlay.png",
    "/api/v1/defects/987654/capture.png",
    "/api/v1/defects/4611686018427387904",  # 2**62: a valid 64-bit id that does not exist
    "/api/v1/inspections/987654",
    "/api/v1/models/987654",
    "/api/v1/annotations/987654",
    "/api/v1/users/987654",
    "/api/v1/blades/NO-SUCH-SERIAL/history",
]
MALFORMED_IDS = [
    "/api/v1/defects/abc",
    "/api/v1/defects/0",
    "/api/v1/defects/99999999999999999999999",
    "/api/v1/models/4294967296",  # beyond the 32-bit id column: refused before it reaches the database
    "/api/v1/cycles/not-a-uuid",
]


def test_unknown_ids_are_404_and_malformed_ids_422(client, users) -> None:
    headers = users["admin"].headers
    unknown = [*UNKNOWN_IDS, f"/api/v1/cycles/{uuid.uuid4()}"]
    got = {path: client.get(path, headers=headers) for path in unknown + MALFORMED_IDS}
    assert {p: r.status_code for p, r in got.items() if p in unknown} == dict.fromkeys(unknown, 404)
    assert all("not found" in got[p].json()["detail"] for p in unknown)
    assert {p: r.status_code for p, r in got.items() if p in MALFORMED_IDS} == dict.fromkeys(
        MALFORMED_IDS, 422
    )
