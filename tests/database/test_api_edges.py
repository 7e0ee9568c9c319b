"""Inputs at the edges of what the API accepts: each is a 4xx naming the problem, never a 500."""

from __future__ import annotations

import pytest

FILTER_ROUTES = [
    "/api/v1/defects",
    "/api/v1/defects/export.csv",
    "/api/v1/stats/defects-per-week",
    "/api/v1/stats/defects-per-family",
]
EDGE_TIMES = [
    "9999-12-31T23:59:59-00:01",  # one minute past the largest datetime once in UTC
    "0001-01-01T00:00:00+00:01",  # one minute before the smallest
    "9999-12-31T23:59:59",
    "0001-01-01T00:00:00Z",
    "1899-12-31T23:59:59Z",
]


@pytest.mark.parametrize("route", FILTER_ROUTES)
def test_times_outside_the_supported_range_are_422_on_every_filter_route(client, users, route) -> None:
    headers = users["eng"].headers
    for field in ("detected_from", "detected_to"):
        for value in EDGE_TIMES:
            response = client.get(route, params={field: value}, headers=headers)
            assert response.status_code == 422, (field, value, response.text)
            detail = response.json()["detail"][0]
            assert detail["loc"][-1] == field, detail
            assert "between 1900-01-01 and 9000-01-01 UTC" in detail["msg"], detail
    inside = client.get(
        route,
        params={"detected_from": "2026-01-01T00:00:00+14:00", "detected_to": "2026-03-01T00:00:00-12:00"},
        headers=headers,
    )
    assert inside.status_code == 200, inside.text  # the connection still serves the next request
