"""The station and blade-map API: progress events as SSE with catch-up, the live stream's lag, capture
previews, families with their deployed model, blade models and meshes, defect maps in blade
coordinates, the cell link (and its absence), roles and bad input. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from database import blade_mesh
from database.api.schemas.station import (
    CameraFrustum,
    CellActionOut,
    CellLinkState,
    CycleEventIn,
    ViewpointPose,
)
from database.services import CycleRecorder, ModelCandidate, ModelRegistry
from database.services.blade_models import BladeModelStore
from database.services.progress import ProgressLog


def parse_sse(text: str) -> list[tuple[int, dict]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":")
        if "data" in fields:
            events.append((int(fields["id"]), json.loads(fields["data"])))
    return events


def event(cycle: str, kind: str, state: str, k: int = 0, **extra) -> CycleEventIn:
    return CycleEventIn(
        cell="cell-1",
        cycle_id=cycle,
        blade_serial="SN-1",
        part_family="HPT1",
        kind=kind,
        state=state,
        viewpoint_index=k,
        viewpoint_count=4,
        **extra,
    )


def test_events_stream_from_the_current_cycle_and_resume_after_last_event_id(client, factory, users, store):
    log = ProgressLog(factory)
    log.append(event("old", "state", "LOADING"))
    log.append(event("old", "end", "DONE", verdict="pass"))
    preview = store.put_image(np.full((8, 8), 77, np.uint8))
    request = uuid.uuid4()
    first = log.append(event("new", "state", "LOADING", request_uuid=request))
    second = log.append(
        event(
            "new",
            "progress",
            "SCANNING",
            1,
            preview_sha256=preview.sha256,
            preview_channel="white",
            fraction=0.3,
            elapsed_s=12.0,
            eta_s=28.0,
        )
    )
    headers = users["tech"].headers

    # A page that opens mid-cycle gets the current cycle from its first event.
    got = parse_sse(client.get("/api/v1/cycles/events", params={"once": True}, headers=headers).text)
    assert [i for i, _ in got] == [first, second]
    assert got[0][1]["request_uuid"] == str(request)
    scan = got[1][1]
    assert (scan["state"], scan["viewpoint_index"], scan["viewpoint_count"]) == ("SCANNING", 1, 4)
    assert (scan["eta_s"], scan["preview_channel"]) == (28.0, "white")
    png = client.get(scan["preview_url"], headers=headers)
    assert png.status_code == 200 and png.content == store.read_bytes(preview.path)

    # A reconnect with Last-Event-ID gets exactly what came after it.
    third = log.append(
        event(
            "new",
            "end",
            "DONE",
            verdict="fail",
            defect_count=2,
            rejecting=[
                {
                    "defect_class": "crack",
                    "area_mm2": 0.4,
                    "viewpoint_index": 1,
                    "reason": "crack 0.40 mm² >= 0.0 mm² at viewpoint 1",
                }
            ],
        )
    )
    again = parse_sse(
        client.get(
            "/api/v1/cycles/events", params={"once": True}, headers={**headers, "Last-Event-ID": str(first)}
        ).text
    )
    assert [i for i, _ in again] == [second, third]
    assert again[-1][1]["rejecting"][0]["defect_class"] == "crack"
    assert (
        parse_sse(
            client.get("/api/v1/cycles/events", params={"once": True, "after": 0}, headers=headers).text
        )[0][1]["cycle_id"]
        == "old"
    )


def test_event_stream_bad_input_and_roles(client, users):
    bad = client.get("/api/v1/cycles/events", headers={**users["tech"].headers, "Last-Event-ID": "x"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["header", "Last-Event-ID"]
    assert client.get("/api/v1/cycles/events").status_code == 401
    missing = client.get("/api/v1/cycles/events/99/preview.png", headers=users["tech"].headers)
    assert missing.status_code == 404 and "preview" in missing.json()["detail"]


def test_live_stream_delivers_an_event_within_a_second(live_server, factory, users):
    """The lag the station sees: from the row's commit to its arrival on an open stream."""
    import httpx

    log = ProgressLog(factory)
    log.append(event("c1", "state", "LOADING"))
    arrived: list[float] = []
    written: list[float] = []
    done = threading.Event()

    def write_later() -> None:
        time.sleep(0.5)  # the stream is open and idle by then; this is the event, not a wait
        written.append(time.monotonic())
        log.append(event("c1", "progress", "SCANNING", 1))

    with (
        httpx.Client(base_url=live_server, headers=users["tech"].headers, timeout=20) as http,
        http.stream("GET", "/api/v1/cycles/events") as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        threading.Thread(target=write_later, daemon=True).start()
        buffer = ""
        for chunk in response.iter_text():
            buffer += chunk
            got = parse_sse(buffer)
            if len(got) == 2:
                arrived.append(time.monotonic())
                done.set()
                break
    assert done.is_set()
    assert arrived[0] - written[0] < 1.0


def test_families_say_which_have_a_deployed_model(client, factory, users, store):
    registry = ModelRegistry(factory)
    registry.register_candidate(
        ModelCandidate(version="hpt1-v1", part_family="HPT1", architecture={}, weights_path="w.pt")
    )
    registry.deploy("hpt1-v1")
    registry.register_candidate(
        ModelCandidate(version="lpt-v1", part_family="LPT2", architecture={}, weights_path="w.pt")
    )  # a candidate only: LPT2 has no deployed model
    _save_model(factory, store, "HPT1")
    got = {f["code"]: f for f in client.get("/api/v1/station/families", headers=users["tech"].headers).json()}
    assert got["HPT1"]["deployed_model"] == "hpt1-v1" and got["HPT1"]["has_blade_model"] is True
    assert got["LPT2"]["deployed_model"] is None and got["LPT2"]["has_blade_model"] is False


def _save_model(factory, store, family: str):
    vertices = np.array([[0, 0, 0], [10, 0, 0], [0, 20, 0], [0, 0, 80]], float)
    faces = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    return BladeModelStore(store, factory).save(
        family,
        vertices,
        faces,
        viewpoints=[ViewpointPose(index=0, position=[0, -200, 40], forward=[0, 1, 0], up=[0, 0, 1])],
        camera=CameraFrustum(fov_x_deg=20, fov_y_deg=15, distance_mm=200),
        source="test tetrahedron",
    )


def test_blade_model_and_compact_mesh_round_trip(client, factory, users, store):
    headers = users["tech"].headers
    missing = client.get("/api/v1/part-families/HPT1/blade-model", headers=headers)
    assert missing.status_code == 404
    saved = _save_model(factory, store, "HPT1")
    model = client.get("/api/v1/part-families/HPT1/blade-model", headers=headers).json()
    assert (model["vertex_count"], model["face_count"]) == (4, 4)
    assert model["viewpoints"][0]["position"] == [0, -200, 40] and model["camera"]["fov_x_deg"] == 20
    mesh = client.get(model["mesh_url"], headers=headers)
    assert mesh.status_code == 200 and mesh.headers["content-type"] == "application/octet-stream"
    header, decoded = blade_mesh.decode(mesh.content)
    assert header["units"] == "mm" and header["bounds"] == [[0, 0, 0], [10, 20, 80]]
    assert decoded.vertices[3].tolist() == [0, 0, 80] and decoded.faces[1].tolist() == [0, 1, 3]
    assert saved.mesh_sha256 in model["mesh_url"]
    # a second save replaces the model (one per family)
    _save_model(factory, store, "HPT1")
    assert client.get("/api/v1/part-families/HPT1/blade-model", headers=headers).status_code == 200
    assert client.get("/api/v1/blade-meshes/" + "0" * 64 + ".bin", headers=headers).status_code == 404


def test_blade_mesh_refuses_bad_arrays():
    from database.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="faces: index 5 past the 3 vertices"):
        blade_mesh.encode(np.zeros((3, 3)), np.array([[0, 1, 5]]))
    with pytest.raises(InvalidInputError, match="vertices: need an"):
        blade_mesh.encode(np.zeros((3, 2)), np.array([[0, 1, 2]]))


def test_defect_map_has_every_cycle_of_the_blade_with_recorded_locations(client, factory, users, builder):
    recorder = CycleRecorder(factory)
    t0 = datetime(2026, 10, 1, 8, tzinfo=UTC)
    recorder.record(
        builder.record(
            "SN-MAP",
            "HPT1",
            started_at=t0,
            defects=[{"location_mm": (-1.94, 0.0, 82.85), "blade_region": "leading edge", "area_mm2": 0.8}],
        )
    )
    recorder.record(
        builder.record(
            "SN-MAP",
            "HPT1",
            started_at=t0 + timedelta(days=30),
            defects=[
                {"location_mm": (-1.9, 0.1, 82.9), "area_mm2": 1.6},
                {"defect_class": "pit", "viewpoint_index": 1, "location_mm": None},
            ],
        )
    )
    recorder.record(builder.record("SN-OTHER", "HPT1", defects=[{"location_mm": (5.0, 5.0, 5.0)}]))
    got = client.get("/api/v1/blades/sn-map/defect-map", headers=users["tech"].headers).json()
    assert got["blade_serial"] == "SN-MAP" and got["part_family"] == "HPT1"
    first, second = got["cycles"]  # oldest first
    assert first["started_at"] < second["started_at"] and first["viewpoints"] == [0, 1]
    assert first["defects"][0]["location_mm"] == [-1.94, 0.0, 82.85]
    assert first["defects"][0]["blade_region"] == "leading edge"
    assert [d["area_mm2"] for d in second["defects"]] == [1.6, 0.5]
    assert second["defects"][1]["location_mm"] is None and second["defects"][1]["viewpoint_index"] == 1
    assert client.get("/api/v1/blades/SN-NONE/defect-map", headers=users["tech"].headers).status_code == 404


class FakeLink:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def state(self) -> CellLinkState:
        return CellLinkState(linked=True, detail="fake cell", estop=False, state="IDLE")

    def press_estop(self) -> CellActionOut:
        self.calls.append("estop")
        return CellActionOut(ok=True, message="pressed")

    def reset_estop(self) -> CellActionOut:
        self.calls.append("reset")
        return CellActionOut(ok=True, message="reset")

    def resume(self, blade_serial: str) -> CellActionOut:
        self.calls.append(f"resume {blade_serial}")
        return CellActionOut(ok=True, message="resuming")


def test_cell_link_absent_says_so_and_present_is_called(client, app, users):
    headers = users["tech"].headers
    state = client.get("/api/v1/cell", headers=headers).json()
    assert state["linked"] is False and "no link to a cell" in state["detail"]
    refused = client.post("/api/v1/cell/estop", headers=headers)
    assert refused.status_code == 409 and "bladecell estop" in refused.json()["detail"]
    app.state.cell_link = link = FakeLink()
    assert client.post("/api/v1/cell/estop", headers=headers).json() == {"ok": True, "message": "pressed"}
    assert client.post("/api/v1/cell/reset-estop", headers=headers).json()["ok"] is True
    assert (
        client.post("/api/v1/cell/resume", json={"blade_serial": "SN-1"}, headers=headers).status_code == 200
    )
    assert link.calls == ["estop", "reset", "resume SN-1"]
    bad = client.post("/api/v1/cell/resume", json={"blade_serial": "a\x01"}, headers=headers)
    assert bad.status_code == 422
    assert client.post("/api/v1/cell/estop").status_code == 401


def test_stream_delivers_an_event_that_commits_after_a_later_id(live_server, factory, users, db_url):
    """Two cells on one PostgreSQL: the row with the lower id commits last; the open stream still
    delivers it (once), after the other."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time: ids always commit in order")
    import httpx

    from database.services import progress

    log = ProgressLog(factory)
    with (
        httpx.Client(base_url=live_server, headers=users["tech"].headers, timeout=30) as http,
        http.stream("GET", "/api/v1/cycles/events", params={"after": 0}) as response,
    ):
        chunks = response.iter_text()
        slow = factory()
        early = progress.append(slow, event("a", "state", "LOADING")).id  # id taken, not committed
        late = log.append(event("b", "state", "LOADING"))
        assert late > early
        buffer, seen = "", []
        while late not in seen:
            buffer += next(chunks)
            seen = [i for i, _ in parse_sse(buffer)]
        slow.commit()
        slow.close()
        deadline = time.monotonic() + 15  # the stream's keep-alive comes every 10 s
        while early not in seen and time.monotonic() < deadline:
            buffer += next(chunks)
            seen = [i for i, _ in parse_sse(buffer)]
    assert seen == [late, early]
