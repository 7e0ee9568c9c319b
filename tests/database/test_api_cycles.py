"""Starting a cycle through the API hands it to the cell through the queue; status follows the cell."""

from __future__ import annotations

from database.services import CycleQueue, CycleRecorder


def register(client, users, serial: str, family: str = "HPT1") -> None:
    """Technicians start cycles only for registered blades; an engineer registers them."""
    body = {"serial": serial, "part_family": family}
    assert client.post("/api/v1/blades", json=body, headers=users["eng"].headers).status_code == 201


def test_start_cycle_then_follow_it_through_the_cell(client, users, factory, builder) -> None:
    tech = users["tech"].headers
    register(client, users, "SN-100")
    started = client.post(
        "/api/v1/cycles",
        json={"blade_serial": "SN-100", "part_family": "HPT1", "options": {"force_redesign": True}},
        headers=tech,
    )
    assert started.status_code == 202, started.text
    body = started.json()
    assert (
        body["state"] == "queued"
        and body["requested_by"] == "tech"
        and body["options"] == {"force_redesign": True}
    )
    request_uuid = body["request_uuid"]

    queue = CycleQueue(factory)  # the coordinator's side
    claimed = queue.claim_next("cell-3")
    assert str(claimed.request_uuid) == request_uuid and claimed.options == {"force_redesign": True}
    assert client.get(f"/api/v1/cycles/{request_uuid}", headers=tech).json()["state"] == "claimed"
    queue.mark_running(claimed.request_uuid, "cell-3")
    queue.report_progress(claimed.request_uuid, "cell-3", "SCANNING viewpoint 4/12")
    status = client.get(f"/api/v1/cycles/{request_uuid}", headers=tech).json()
    assert status["state"] == "running" and status["progress"] == "SCANNING viewpoint 4/12"
    assert status["claimed_by"] == "cell-3" and status["cycle_id"] is None

    result = CycleRecorder(factory).record(
        builder.record("SN-100", "HPT1", request_uuid=claimed.request_uuid, cell="cell-3", defects=[{}, {}])
    )
    done = client.get(f"/api/v1/cycles/{request_uuid}", headers=tech).json()
    assert done["state"] == "done" and done["cycle_id"] == result.cycle_id
    assert done["verdict"] == "fail" and done["defect_count"] == 2
    inspection = client.get(f"/api/v1/inspections/{result.cycle_id}", headers=users["eng"].headers).json()
    assert inspection["request_uuid"] == request_uuid and inspection["cell"] == "cell-3"


def test_start_cycle_conflicts_and_validation(client, users) -> None:
    tech = users["tech"].headers
    register(client, users, "SN-1")
    ok = client.post("/api/v1/cycles", json={"blade_serial": "SN-1", "part_family": "HPT1"}, headers=tech)
    assert ok.status_code == 202
    again = client.post("/api/v1/cycles", json={"blade_serial": "SN-1", "part_family": "HPT1"}, headers=tech)
    assert again.status_code == 409 and "already has an active cycle request" in again.json()["detail"]
    other_family = client.post(
        "/api/v1/cycles", json={"blade_serial": "SN-1", "part_family": "LPT2"}, headers=tech
    )
    assert other_family.status_code == 409
    assert (
        other_family.json()["detail"] == "blade serial 'SN-1' is registered as part family 'HPT1', not 'LPT2'"
    )
    cases = [
        ({"blade_serial": "", "part_family": "HPT1"}, "blade_serial"),
        ({"blade_serial": "SN-2"}, "part_family"),
        ({"blade_serial": "SN-2", "part_family": "HPT1", "options": {"turbo": True}}, "turbo"),
        ({"blade_serial": "SN-2", "part_family": "bad family!"}, "part_family"),
        ({"blade_serial": "SN\n2", "part_family": "HPT1"}, "blade_serial"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/cycles", json=body, headers=tech)
        assert response.status_code == 422, body
        assert any(field in e["loc"] for e in response.json()["detail"]), response.json()
    listed = client.get("/api/v1/cycles", headers=tech).json()
    assert [r["blade_serial"] for r in listed] == ["SN-1"]  # the refused requests wrote nothing


def test_cancel_only_before_the_cell_starts(client, users, factory) -> None:
    tech = users["tech"].headers
    register(client, users, "SN-1")
    first = client.post(
        "/api/v1/cycles", json={"blade_serial": "SN-1", "part_family": "HPT1"}, headers=tech
    ).json()
    cancelled = client.post(f"/api/v1/cycles/{first['request_uuid']}/cancel", headers=tech)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    # the blade is free again, and a running cycle cannot be cancelled
    second = client.post(
        "/api/v1/cycles", json={"blade_serial": "SN-1", "part_family": "HPT1"}, headers=tech
    ).json()
    queue = CycleQueue(factory)
    claimed = queue.claim_next("cell-1")
    queue.mark_running(claimed.request_uuid, "cell-1")
    refused = client.post(f"/api/v1/cycles/{second['request_uuid']}/cancel", headers=tech)
    assert refused.status_code == 409 and "cannot go from running to cancelled" in refused.json()["detail"]
    states = {r["request_uuid"]: r["state"] for r in client.get("/api/v1/cycles", headers=tech).json()}
    assert states == {first["request_uuid"]: "cancelled", second["request_uuid"]: "running"}
    only_running = client.get("/api/v1/cycles", params={"state": "running"}, headers=tech).json()
    assert [r["request_uuid"] for r in only_running] == [second["request_uuid"]]
