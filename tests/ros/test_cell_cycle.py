"""End to end on the simulated cell over real ROS 2: a new part family's first cycle scans, stores
labelled captures, designs and deploys a model with AutoNAD, detects, records and unloads; a second
cycle — requested through the records API's queue — reuses the model without a redesign; the records
are visible through the API; detections overlap the simulator's ground truth (IoU printed)."""

from __future__ import annotations

import json

import pytest
from cell_helpers import FAMILY, collect_feedback

pytestmark = [
    pytest.mark.ros,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`"),
]

#: Lower bounds on the defect IoU (detections vs the simulator's ground truth, pooled over a cycle's
#: captures). Observed on 2 shared cores with the cell's design budget (class-weighted CE + Dice,
#: config/cell_sim.yaml): 0.67-0.69 on the blade the model was designed on (burn 0.68-0.71, coating
#: loss 0.66-0.68), 0.62-0.64 on the next (unseen) blade; asserted with a margin of about 0.2-0.25.
#: The earlier plain cross-entropy budget gave 0.61-0.65 / 0.49-0.51 here, and in
#: benchmarks/cell_design_loss.py no defect at all for 1 of 4 design seeds.
MIN_IOU_FIRST = 0.45
MIN_IOU_FIRST_PER_CLASS = 0.4  # burn and coating_loss, the blade's two defect classes
MIN_IOU_SECOND = 0.35


def _api_client(role: str):
    from fastapi.testclient import TestClient

    from database.api import create_app
    from database.engine import create_db_engine, make_session_factory
    from database.services import accounts
    from database.settings import load_settings

    settings = load_settings()
    factory = make_session_factory(create_db_engine(settings.url))
    with factory() as session:
        user = accounts.create_user(session, f"{role}-1", role)
        _, key = accounts.create_api_key(session, user)
        session.commit()
    client = TestClient(create_app(settings))
    client.headers["X-API-Key"] = key
    return client


def test_first_cycle_designs_the_model_and_the_second_reuses_it(start_cell, cell_home) -> None:
    from bladecell_ros.bringup.session import detections_of
    from bladecell_ros.services.capture_store import CaptureStore
    from bladecell_ros.services.evaluation import cycle_scores

    from database.services import ModelRegistry

    cell = start_cell({"cell_coordinator": {"max_viewpoints": 0}})
    store = CaptureStore(cell_home)
    seen, feedback = collect_feedback()

    first = cell.client.inspect("SN-E2E-0001", FAMILY, operator="tester", feedback=feedback, timeout=900)
    assert first.final_state == "DONE", first.message
    states = [s for s, *_ in seen]
    assert (
        states.index("LOADING")
        < states.index("SCANNING")
        < states.index("DESIGNING")
        < states.index("DETECTING")
    )
    assert states.index("RECORDING") < states.index("UNLOADING")
    timings = json.loads(first.stage_timings_json)
    assert set(timings) == {"LOADING", "SCANNING", "DESIGNING", "DETECTING", "RECORDING", "UNLOADING"}
    print(f"\nfirst cycle {first.duration_s:.1f} s: {timings}")

    # scanned and stored: one labelled capture per viewpoint of the full plan
    viewpoints = max(vp_count for _, _, vp_count, _ in seen)
    refs = store.refs(FAMILY, cycle_id=first.cycle_id, labelled_only=True)
    assert viewpoints >= 8 and len(refs) == viewpoints
    # designed, registered and deployed for the family
    deployed = ModelRegistry().deployed_for(FAMILY)
    assert deployed is not None and deployed.version == first.model_version
    assert deployed.latency_device == "cpu" and deployed.latency_ms > 0 and "miou" in deployed.metrics
    # detections vs the simulator's ground truth
    detections = detections_of(cell_home, FAMILY, first.cycle_id)
    assert detections is not None and detections.model_version == first.model_version
    assert len(detections.defects) == first.defect_count
    iou1 = cycle_scores(store, detections)
    print(f"first cycle defect IoU {iou1['defect_iou']:.3f} per class {iou1['per_class']}")
    assert iou1["true_pixels"] > 0
    assert iou1["defect_iou"] >= MIN_IOU_FIRST
    for name in ("burn", "coating_loss"):
        assert iou1["per_class"][name] >= MIN_IOU_FIRST_PER_CLASS, (name, iou1["per_class"])
    # unloaded according to the verdict
    holder = "reject_bin" if first.verdict == "fail" else "tray"
    assert json.loads(_sim_state(cell))["holder"] == holder

    # second cycle: requested through the API's queue, run by the coordinator, no redesign
    engineer = _api_client("engineer")
    registered = engineer.post(  # technicians start cycles for registered blades only
        "/api/v1/blades", json={"serial": "SN-E2E-0002", "part_family": FAMILY}
    )
    assert registered.status_code == 201, registered.text
    technician = _api_client("technician")
    response = technician.post("/api/v1/cycles", json={"blade_serial": "SN-E2E-0002", "part_family": FAMILY})
    assert response.status_code == 202, response.text
    request_uuid = response.json()["request_uuid"]
    done = cell.client.wait_status(
        lambda s: s.blade_serial == "SN-E2E-0002" and s.state in ("DONE", "FAULTED", "ABORTED"),
        600,
        "cycle 2",
    )
    assert done.state == "DONE", done.message
    second_states = {s.state for s in cell.client.status_history if s.cycle_id == done.cycle_id}
    assert "DESIGNING" not in second_states and "DETECTING" in second_states
    second = detections_of(cell_home, FAMILY, done.cycle_id)
    assert second is not None and second.model_version == first.model_version
    iou2 = cycle_scores(store, second)
    blade = json.loads(_sim_state(cell))["blade"]["seed"]
    print(f"second cycle (blade seed {blade}) defect IoU {iou2['defect_iou']:.3f}")
    assert iou2["true_pixels"] > 0 and iou2["defect_iou"] >= MIN_IOU_SECOND

    status = technician.get(f"/api/v1/cycles/{request_uuid}").json()
    assert status["state"] == "done" and status["cycle_id"] is not None
    assert status["defect_count"] == len(second.defects)

    # both cycles recorded with their captures and defects
    for serial, record_id, detected in (
        ("SN-E2E-0001", first.record_id, detections),
        ("SN-E2E-0002", status["cycle_id"], second),
    ):
        inspection = engineer.get(f"/api/v1/inspections/{record_id}").json()
        assert inspection["blade_serial"] == serial and inspection["state"] == "done"
        assert inspection["model_version"] == first.model_version
        assert len(inspection["captures"]) == viewpoints
        assert inspection["defect_count"] == len(detected.defects)
        assert all(len(c["frames"]) == 6 and c["mask_path"] for c in inspection["captures"])
        page = engineer.get(
            "/api/v1/defects", params={"blade_serial": serial, "limit": 200, "include_total": True}
        ).json()
        assert page["total"] == len(detected.defects)


def _sim_state(cell) -> str:
    from bladecell_ros.transport.ros_calls import ServiceProxy
    from std_srvs.srv import Trigger

    proxy = ServiceProxy(cell.client.node, Trigger, "sim/state", "sim")
    return proxy.call(Trigger.Request(), timeout=20.0).message
