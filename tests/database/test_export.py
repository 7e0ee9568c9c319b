"""CSV export: streamed in batches, same filters as the search, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

from database.services import CycleRecorder
from database.services.defect_search import DefectFilter, SortSpec
from database.services.export import BATCH_ROWS, CSV_COLUMNS, iter_defects_csv


def test_export_streams_every_matching_row(client, users, factory, builder) -> None:
    recorder = CycleRecorder(factory)
    many = [
        {"area_mm2": (i % 50) / 10, "defect_class": "pit" if i % 4 else "crack"}
        for i in range(BATCH_ROWS + 1000)
    ]
    recorder.record(builder.record("SN-BIG", "HPT1", defects=many))
    recorder.record(builder.record('=HYPERLINK("http://x")', "HPT1", defects=[{}]))
    headers = users["eng"].headers
    with client.stream(
        "GET", "/api/v1/defects/export.csv", params={"defect_class": "pit"}, headers=headers
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["content-disposition"].startswith('attachment; filename="defects-')
        text = response.read().decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    expected_pits = sum(1 for d in many if d["defect_class"] == "pit")
    assert len(rows) == expected_pits
    assert {r["defect_class"] for r in rows} == {"pit"}
    detected = [r["detected_at"] for r in rows]
    assert detected == sorted(detected, reverse=True)
    search_total = client.get(
        "/api/v1/defects", params={"defect_class": "pit", "include_total": True}, headers=headers
    ).json()["total"]
    assert search_total == len(rows)

    everything = client.get("/api/v1/defects/export.csv", params={"sort": "-area_mm2"}, headers=headers).text
    rows = list(csv.DictReader(io.StringIO(everything)))
    assert len(rows) == len(many) + 1
    areas = [float(r["area_mm2"]) for r in rows]
    assert areas == sorted(areas, reverse=True)
    formula = next(r for r in rows if "HYPERLINK" in r["blade_serial"])
    assert formula["blade_serial"].startswith("'=")  # a spreadsheet shows it as text, never runs it

    # The body is produced batch by batch (bounded memory), not built whole.
    parts = list(iter_defects_csv(factory, DefectFilter(), SortSpec.parse("-detected_at"), row_limit=10**6))
    assert len(parts) == 2 and all(part.count("\n") <= BATCH_ROWS + 1 for part in parts)
    assert sum(part.count("\n") for part in parts) == len(many) + 2  # header + every row
    limited = "".join(iter_defects_csv(factory, DefectFilter(), SortSpec.parse("id"), row_limit=5))
    assert limited.count("\n") == 6


def test_export_with_no_match_is_just_the_header(client, users) -> None:
    response = client.get(
        "/api/v1/defects/export.csv", params={"blade_serial": "none"}, headers=users["eng"].headers
    )
    assert response.status_code == 200
    assert response.text.strip() == ",".join(CSV_COLUMNS)
    bad = client.get("/api/v1/defects/export.csv", params={"min_confidence": 3}, headers=users["eng"].headers)
    assert bad.status_code == 422
