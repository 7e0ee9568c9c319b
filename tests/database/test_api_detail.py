"""One defect and its context through the API: detail with capture and overlay, review, blade history,
inspection detail, statistics, and input the database itself would refuse."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import cv2
import numpy as np
import pytest
from db_helpers import CLASSES, all_defects, parse_time


def test_detail_overlay_and_capture(client, users, seeded, store) -> None:
    headers = users["eng"].headers
    defect_id = seeded["defect_ids"][0]
    detail = client.get(f"/api/v1/defects/{defect_id}", headers=headers).json()
    assert detail["blade_serial"] == "SN-SEED" and detail["model_version"] == "hpt1-v1"
    assert detail["bbox"] == [10, 10, 8, 4] and detail["capture_size"] == [64, 64]
    assert [c["channel"] for c in detail["channels"]] == ["white", "uv"]
    overlay = client.get(detail["overlay_url"], headers=headers)
    assert overlay.status_code == 200 and overlay.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(overlay.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (320, 320, 3)  # 64 px enlarged 5x for the browser
    b, g, r = image[..., 0].astype(int), image[..., 1].astype(int), image[..., 2].astype(int)
    red = (r > 200) & (g < 60) & (b < 60)
    ys, xs = np.nonzero(red)
    assert red.sum() > 50  # the contour is drawn...
    assert xs.min() >= 45 and xs.max() <= 95 and ys.min() >= 45 and ys.max() <= 75  # ...around bbox*5
    tinted = image[55:65, 55:85]  # inside the mask region (rows 10-13, cols 10-17, x5)
    assert (tinted[..., 2].astype(int) - tinted[..., 1].astype(int)).mean() > 20  # class 1 tint is red-ish
    capture = client.get(detail["capture_url"], params={"channel": "uv"}, headers=headers)
    frame = cv2.imdecode(np.frombuffer(capture.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert frame.shape == (64, 64)

    assert hashlib.sha256(capture.content).hexdigest() == detail["channels"][1]["sha256"]
    missing = client.get(detail["overlay_url"], params={"channel": "infrared"}, headers=headers)
    assert missing.status_code == 404 and "'white', 'uv'" in missing.json()["detail"]


def test_overlay_reports_a_tampered_capture_file(client, users, seeded, store, factory) -> None:
    from database.orm import Capture, CaptureFrame, Defect

    headers = users["eng"].headers
    defect_id = seeded["defect_ids"][0]
    with factory() as session:
        capture_id = session.get(Defect, defect_id).capture_id
        frame = session.query(CaptureFrame).filter_by(capture_id=capture_id, channel="white").one()
        path = store.resolve(frame.path)
        mask_path = session.get(Capture, capture_id).mask_path
    store.resolve(mask_path).write_bytes(b"not a png any more")
    shown = client.get(f"/api/v1/defects/{defect_id}/overlay.png", headers=headers)
    assert shown.status_code == 200 and "mask not shown" in shown.headers["x-overlay-warning"]
    path.write_bytes(path.read_bytes()[:-10])
    broken = client.get(f"/api/v1/defects/{defect_id}/overlay.png", headers=headers)
    assert broken.status_code == 500 and "does not match its recorded SHA-256" in broken.json()["detail"]


def test_review_round_trip(client, users, seeded) -> None:
    headers = users["eng"].headers
    defect_id = seeded["defect_ids"][1]
    reviewed = client.patch(
        f"/api/v1/defects/{defect_id}/review",
        json={"review_status": "false_positive", "note": "dust"},
        headers=headers,
    )
    assert reviewed.status_code == 200 and reviewed.json()["review_status"] == "false_positive"
    detail = client.get(f"/api/v1/defects/{defect_id}", headers=headers).json()
    assert detail["reviewed_by"] == "eng" and detail["review_note"] == "dust" and detail["reviewed_at"]
    found = client.get("/api/v1/defects", params={"review_status": "false_positive"}, headers=headers).json()
    assert [d["id"] for d in found["items"]] == [defect_id]
    bad = client.patch(
        f"/api/v1/defects/{defect_id}/review", json={"review_status": "great"}, headers=headers
    )
    assert bad.status_code == 422
    assert (
        client.patch(
            "/api/v1/defects/987654/review", json={"review_status": "confirmed"}, headers=headers
        ).status_code
        == 404
    )


def test_blade_history_and_inspection_detail(client, users, population) -> None:
    headers = users["eng"].headers
    history = client.get("/api/v1/blades/H-001/history", headers=headers).json()
    assert history["blade"]["part_family"] == "HPT1"
    cycles = history["cycles"]
    assert len(cycles) == 2 and cycles[0]["started_at"] > cycles[1]["started_at"]
    everything = all_defects(client, headers)
    for cycle in cycles:
        mine = [d for d in everything if d["cycle_id"] == cycle["id"]]
        expected = {c: sum(1 for d in mine if d["defect_class"] == c) for c in CLASSES}
        assert cycle["defects_by_class"] == {c: n for c, n in expected.items() if n}
        assert cycle["defect_count"] == len(mine)
    inspection = client.get(f"/api/v1/inspections/{cycles[0]['id']}", headers=headers).json()
    assert inspection["blade_serial"] == "H-001" and len(inspection["captures"]) == 2
    assert [f["channel"] for f in inspection["captures"][0]["frames"]] == ["white", "uv"]


def test_statistics_per_week_and_per_family(client, users, population) -> None:
    headers = users["eng"].headers
    everything = all_defects(client, headers)
    params = {"detected_from": "2026-09-01T00:00:00Z", "detected_to": "2026-11-01T00:00:00Z"}
    weekly = client.get("/api/v1/stats/defects-per-week", params=params, headers=headers).json()
    expected: dict[tuple[str, str], int] = {}
    for d in everything:
        t = parse_time(d["detected_at"])
        monday = (t - timedelta(days=t.weekday())).date().isoformat()
        expected[(monday, d["defect_class"])] = expected.get((monday, d["defect_class"]), 0) + 1
    got = {
        (week, cls): weekly["counts"][cls][i]
        for cls in weekly["classes"]
        for i, week in enumerate(weekly["weeks"])
        if weekly["counts"][cls][i]
    }
    assert got == expected and weekly["total"] == len(everything)
    assert weekly["weeks"][0] == "2026-09-07" and all(
        (datetime.fromisoformat(b) - datetime.fromisoformat(a)).days == 7
        for a, b in zip(weekly["weeks"], weekly["weeks"][1:], strict=False)
    )
    family = client.get("/api/v1/stats/defects-per-family", headers=headers).json()
    assert family["totals"] == {
        f: sum(1 for d in everything if d["part_family"] == f) for f in ("HPT1", "LPT2")
    }
    assert family["cycles"] == {"HPT1": {"cycles": 6, "blades": 3}, "LPT2": {"cycles": 4, "blades": 2}}
    only_lpt = client.get(
        "/api/v1/stats/defects-per-week", params={**params, "part_family": "LPT2"}, headers=headers
    )
    assert only_lpt.json()["total"] == family["totals"]["LPT2"]
    too_long = client.get(
        "/api/v1/stats/defects-per-week", params={"detected_from": "2000-01-01T00:00:00Z"}, headers=headers
    )
    assert too_long.status_code == 422 and "at most 520 weeks" in too_long.json()["detail"][0]["msg"]


def test_nul_and_lone_surrogates_are_422_not_database_errors(client, users, seeded) -> None:
    """Found by schemathesis on PostgreSQL (text cannot hold NUL) and in FastAPI's error rendering."""
    headers = {**users["eng"].headers, "Content-Type": "application/json"}
    defect = seeded["defect_ids"][0]
    for raw, field in (
        ('{"review_status": "confirmed", "note": "a\\u0000b"}', "note"),
        ('{"review_status": "confirmed", "note": "\\ud800"}', "note"),
    ):
        response = client.patch(f"/api/v1/defects/{defect}/review", content=raw, headers=headers)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", field]
    for params in ({"blade_serial": "a\x00b"}, {"cell": "\x00"}, {"model_version": "x\x00"}):
        assert client.get("/api/v1/defects", params=params, headers=headers).status_code == 422
    assert client.get("/api/v1/blades/a%00b/history", headers=headers).status_code == 422
    assert client.get(f"/api/v1/defects/{defect}", headers=headers).json()["review_status"] == "unreviewed"


@pytest.mark.parametrize("bad_path", ["../../../etc/passwd", "/etc/passwd", "files/00/00/gone.png"])
def test_a_row_pointing_outside_or_at_nothing_is_a_500_that_hides_the_data_root(
    client, users, seeded, factory, home, bad_path, caplog
) -> None:
    """A stored path is written by the server, never by the client: a bad one is the server's fault
    (500, logged with the data root), not invalid input (422), and the answer names no absolute path."""
    from database.orm import CaptureFrame, Defect

    defect_id = seeded["defect_ids"][0]
    with factory() as session:
        capture_id = session.get(Defect, defect_id).capture_id
        frame = session.query(CaptureFrame).filter_by(capture_id=capture_id, channel="white").one()
        frame.path = bad_path
        session.commit()
    for route in ("overlay.png", "capture.png"):
        with caplog.at_level("ERROR", logger="database.api.errors"):
            response = client.get(f"/api/v1/defects/{defect_id}/{route}", headers=users["eng"].headers)
        assert response.status_code == 500, response.text
        detail = response.json()["detail"]
        assert str(home) not in detail and str(home.resolve()) not in detail and "/etc" not in detail
        assert f"capture {capture_id}" in detail or "stored file" in detail
        assert str(home.resolve()) in caplog.text  # the operator's log has what is needed to repair it
