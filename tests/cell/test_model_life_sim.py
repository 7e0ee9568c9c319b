"""The model's life end to end in simulation (issue 18), without ROS, with tiny AutoNAD budgets:

design on blade family A (normal blades) -> inspect blades whose defects look different (the
simulator's appearance shift) -> the flag rises (input statistics) -> engineers correct the detections
through the API (false positives, painted ground truth) -> the flag shows the review figures ->
retrain from the deployed weights on the snapshot -> the candidate beats the old model on the held-out
shifted blades -> promote through the API -> the next cycle runs the new model -> roll back.
"""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
from bladecell_ros.services.designer import ModelDesigner
from bladecell_ros.services.replay import ReplayCell, read_blades
from bladecell_ros.services.retrainer import ModelRetrainer, RetrainError
from tiny_design import tiny_design

FAMILY = "HPT-A"
TINY = tiny_design(retrain_epochs=6, retrain_batch=4)


def _png_b64(mask: np.ndarray) -> str:
    ok, data = cv2.imencode(".png", mask)
    assert ok
    return base64.b64encode(data.tobytes()).decode()


@pytest.fixture
def sim_data(tmp_path: Path) -> dict[str, Path]:
    from platform_control.sim.dataset import generate_dataset

    common = dict(presets=("small",), views_per_blade=3, resolution=(64, 64), progress=False)
    generate_dataset(3, 11, tmp_path / "normal", **common)
    generate_dataset(4, 12, tmp_path / "shifted", appearance_shift=0.8, **common)
    return {"normal": tmp_path / "normal", "shifted": tmp_path / "shifted"}


@pytest.mark.slow
def test_design_shift_flag_correct_retrain_promote_rollback(home: Path, sim_data, monkeypatch) -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from database.api import create_app
    from database.engine import create_db_engine, make_session_factory
    from database.orm import Capture, CaptureFrame, Defect, InspectionCycle, Role
    from database.services import ModelRegistry, accounts
    from database.settings import load_settings

    settings = load_settings()
    engine = create_db_engine(settings.url)
    factory = make_session_factory(engine)
    registry = ModelRegistry(factory)
    with factory() as session:
        eng = accounts.create_user(session, "quality-eng", Role.ENGINEER)
        _, key = accounts.create_api_key(session, eng, "e2e")
        session.commit()
    headers = {"X-API-Key": key}

    # 1. first design on normal blades of family A
    t0 = time.perf_counter()
    designed = ModelDesigner(home, registry, overrides=TINY).run(FAMILY, sim_data["normal"])
    v1 = registry.deployed_for(FAMILY)
    assert v1.version == designed.version and v1.origin == "designed" and v1.input_stats

    print(f"design {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    cell = ReplayCell(home, factory, threads=2)
    for b, views in read_blades(sim_data["normal"]).items():
        assert cell.inspect(sim_data["normal"], b, views, FAMILY, f"SN-N{b}").model_version == v1.version

    print(f"normal inspections {time.perf_counter() - t0:.1f} s")
    client = TestClient(create_app(settings, engine))
    check = client.post("/api/v1/model-life/health/check", json={"part_family": FAMILY}, headers=headers)
    assert check.status_code == 200, check.text
    assert check.json()["level"] == "ok", check.json()

    # 2. blades whose defects (and coating) look different
    shifted = read_blades(sim_data["shifted"])
    cycles = {
        b: cell.inspect(sim_data["shifted"], b, views, FAMILY, f"SN-S{b}") for b, views in shifted.items()
    }
    health = client.post(
        "/api/v1/model-life/health/check", json={"part_family": FAMILY}, headers=headers
    ).json()
    assert health["level"] != "ok", health
    assert health["figures"]["input_shift_sd"] > 0.2 and any("input" in r for r in health["reasons"]), health

    # 3. quality engineers correct the shifted cycles' detections through the API
    with factory() as session:
        shifted_uuids = {c.cycle_id for c in cycles.values()}
        captures = [
            (cap, cyc)
            for cap, cyc in session.execute(
                select(Capture, InspectionCycle).join(InspectionCycle, InspectionCycle.id == Capture.cycle_id)
            )
            if cyc.cycle_uuid.hex in shifted_uuids
        ]
        defects = {
            cap.id: list(session.scalars(select(Defect).where(Defect.capture_id == cap.id)))
            for cap, _ in captures
        }
    truth_of = {}
    for replay in cycles.values():
        for index, stem in enumerate(replay.stems):
            truth_of[(replay.cycle_id, index)] = cv2.imread(
                str(sim_data["shifted"] / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED
            )
    false_positives = 0
    for cap, cyc in captures:
        truth = truth_of[(cyc.cycle_uuid.hex, cap.viewpoint_index)]
        for d in defects[cap.id]:
            x, y, w, h = d.bbox_x, d.bbox_y, d.bbox_w, d.bbox_h
            kind = "confirm" if (truth[y : y + h, x : x + w] > 0).any() else "false_positive"
            false_positives += kind == "false_positive"
            r = client.post(f"/api/v1/defects/{d.id}/corrections", json={"kind": kind}, headers=headers)
            assert r.status_code == 201, r.text
        r = client.post(
            f"/api/v1/captures/{cap.id}/corrections", json={"mask_png": _png_b64(truth)}, headers=headers
        )
        assert r.status_code == 201, r.text
    health = client.post(
        "/api/v1/model-life/health/check", json={"part_family": FAMILY}, headers=headers
    ).json()
    assert health["figures"]["corrected_captures"] == len(captures)
    assert health["figures"]["false_positives"] == false_positives
    assert (
        client.get("/api/v1/model-life/health", params={"part_family": FAMILY}, headers=headers).json()
        == health
    )

    # 4. lightweight retraining from the deployed weights on the newest snapshot
    # 40 epochs: at 15 the fine-tune sometimes had not adapted yet (background -0.008 on one held-out
    # draw of three; the held-out cycles follow the random cycle ids), at 40 it gained in 5 of 5
    retrainer = ModelRetrainer(
        home, factory, threads=2, overrides={"retrain": {"epochs": 40, "batch_size": 4}}
    )
    out = retrainer.retrain(FAMILY, actor="quality-eng")
    candidate = registry.get(out.version)
    assert candidate.status == "candidate" and candidate.parent_version == v1.version
    assert candidate.origin == "retrained" and candidate.snapshot_sha256 == out.snapshot_sha256
    assert out.heldout_samples >= 3 and out.train_samples >= 6
    # judged as the promotion rule judges: per class, on the classes both models are scored on (a class
    # the held-out data lacks is NaN for a model that never predicts it and 0 for one that predicts it
    # falsely, so plain nanmeans of the two dicts average over different classes)
    gain = float(np.mean(list(out.deltas.values())))
    print(f"held-out shifted: mean IoU change {gain:+.3f}, per class {out.deltas}; {out.timings}")
    assert out.deltas and gain > 0, (out.candidate_iou, out.deployed_iou)

    # 5. promote (engineer, API), the next cycle runs it; roll back (one call)
    r = client.post(
        f"/api/v1/models/{candidate.id}/promote",
        json={"part_family": FAMILY, "reason": "shifted line"},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    b, views = next(iter(shifted.items()))
    assert cell.inspect(sim_data["shifted"], b, views, FAMILY, "SN-AFTER").model_version == out.version
    r = client.post("/api/v1/model-life/rollback", json={"part_family": FAMILY}, headers=headers)
    assert r.status_code == 200 and r.json()["version"] == v1.version
    assert cell.inspect(sim_data["shifted"], b, views, FAMILY, "SN-BACK").model_version == v1.version
    actions = [e["action"] for e in client.get(
        "/api/v1/model-life/events", params={"part_family": FAMILY}, headers=headers).json()]  # fmt: skip
    assert actions[:3] == ["rolled_back", "promoted", "registered"]

    # 6. a related family starts from A's architecture: imported masks label its captures, no search
    b_cycles = [
        cell.inspect(sim_data["normal"], b, views, "HPT-B", f"SN-B{b}", detect=False)
        for b, views in list(read_blades(sim_data["normal"]).items())[:2]
    ]
    with factory() as session:
        for replay in b_cycles:
            cycle = session.scalar(
                select(InspectionCycle).where(InspectionCycle.cycle_uuid == uuid.UUID(replay.cycle_id))
            )
            for cap in session.scalars(select(Capture).where(Capture.cycle_id == cycle.id)):
                frame = session.scalar(
                    select(CaptureFrame).where(CaptureFrame.capture_id == cap.id).order_by(CaptureFrame.id)
                )
                mask = sim_data["normal"] / "masks" / f"{replay.stems[cap.viewpoint_index]}.png"
                r = client.post(
                    "/api/v1/annotations",
                    files={
                        "image": ("i.png", (home / frame.path).read_bytes(), "image/png"),
                        "mask": ("m.png", mask.read_bytes(), "image/png"),
                    },
                    data={
                        "part_family": "HPT-B",
                        "class_names": ",".join(v1.class_names),
                        "capture_id": cap.id,
                    },
                    headers=headers,
                )
                assert r.status_code == 201, r.text
    like = ModelRetrainer(home, factory, threads=2, overrides={"retrain": {"epochs": 3, "batch_size": 4}})
    b_out = like.retrain("HPT-B", like=FAMILY, actor="quality-eng")
    b_model = registry.deployed_for("HPT-B")
    assert b_model.version == b_out.version and b_model.origin == "like_family"
    assert b_model.architecture_from == FAMILY and b_model.parent_version == v1.version
    assert b_model.architecture == v1.architecture

    # 7. a family with no labels cannot be retrained; nothing is registered
    before = len(registry.list())
    with pytest.raises(Exception, match=r"no labelled captures|not found"):
        retrainer.retrain("HPT-EMPTY", like=FAMILY)
    with pytest.raises(RetrainError, match="already has a deployed model"):
        retrainer.retrain(FAMILY, like=FAMILY)
    assert len(registry.list()) == before
    engine.dispose()
