"""The model's life in the records (issue 18): review corrections become labels, snapshots freeze them,
candidates are promoted and rolled back with who/why kept; bad input changes nothing. Every test runs
on SQLite and PostgreSQL; the races run threads against a real uvicorn."""

from __future__ import annotations

import base64
import itertools

import cv2
import httpx
import numpy as np
import pytest
from db_helpers import png_bytes
from sqlalchemy import func, select

from database.orm import Annotation, DatasetSnapshot, Defect, LabelCorrection, ModelEvent, ReviewStatus
from database.services import CycleRecorder, ModelCandidate, ModelRegistry
from database.services.registry import Actor

CLASSES = ["background", "crack", "pit"]
SIZE = 64


def _mask() -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[10:14, 10:18] = 1  # defect A: crack
    mask[30:36, 30:36] = 2  # defect B: pit
    mask[50:54, 5:15] = 1  # defect C: crack
    return mask


def _box(x: int, y: int, w: int, h: int) -> dict:
    return {
        "bbox": (x, y, w, h),
        "contour": ((x, y), (x + w - 1, y), (x + w - 1, y + h - 1), (x, y + h - 1)),
        "pixel_area": w * h,
    }


@pytest.fixture
def life(factory, builder, users) -> dict:
    """Family HPT1 with deployed model v1 (classes recorded) and one cycle: 3 defects on capture 0."""
    registry = ModelRegistry(factory)
    registry.register_candidate(
        ModelCandidate(
            version="v1",
            part_family="HPT1",
            architecture={"ops": ["conv"]},
            weights_path="w.pt",
            class_names=CLASSES,
            channels=["uv", "white"],
        )
    )
    registry.deploy("v1", Actor(name="designer"))
    record = builder.record(
        "SN-1",
        "HPT1",
        model_version="v1",
        defects=[
            {"defect_class": "crack", **_box(10, 10, 8, 4)},
            {"defect_class": "pit", **_box(30, 30, 6, 6)},
            {"defect_class": "crack", **_box(5, 50, 10, 4)},
        ],
        viewpoints=1,
    )
    record = record.model_copy(update={"captures": (builder.capture(0, mask=_mask()),)})
    CycleRecorder(factory).record(record)
    with factory() as session:
        ids = list(session.scalars(select(Defect.id).order_by(Defect.id)))
    return {"defects": ids, "registry": registry, "users": users}


def _label(client, defect_id: int, headers) -> np.ndarray:
    response = client.get(f"/api/v1/defects/{defect_id}/label.png", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["X-Label-Classes"] == ",".join(CLASSES)
    return cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)


def _counts(factory) -> tuple[int, int, int]:
    with factory() as session:
        return (
            session.scalar(select(func.count()).select_from(LabelCorrection)),
            session.scalar(select(func.count()).select_from(Annotation)),
            session.scalar(select(func.count()).select_from(DatasetSnapshot)),
        )


def test_corrections_become_labels_and_a_hashed_snapshot(client, life, factory) -> None:
    eng = life["users"]["eng"].headers
    a, b, c = life["defects"]
    assert (_label(client, a, eng) == _mask()).all()  # before any correction: the detector's mask

    r = client.post(f"/api/v1/defects/{a}/corrections", json={"kind": "confirm"}, headers=eng)
    assert r.status_code == 201, r.text
    assert r.json()["changed_pixels"] == 0 and r.json()["created_by"] == "eng"
    assert r.json()["model_version"] == "v1"

    r = client.post(f"/api/v1/defects/{b}/corrections", json={"kind": "false_positive"}, headers=eng)
    assert r.status_code == 201, r.text
    assert r.json()["removed_pixels"] == 36
    label = _label(client, b, eng)
    assert (label[30:36, 30:36] == 0).all() and (label[10:14, 10:18] == 1).all()

    r = client.post(
        f"/api/v1/defects/{c}/corrections", json={"kind": "class_change", "to_class": "pit"}, headers=eng
    )
    assert r.status_code == 201, r.text
    assert r.json()["changed_pixels"] == 40 and r.json()["from_class"] == "crack"
    assert (_label(client, c, eng)[50:54, 5:15] == 2).all()

    painted = _label(client, a, eng)
    painted[40:44, 40:50] = 1  # a crack the model missed
    r = client.post(
        f"/api/v1/defects/{a}/corrections",
        json={"kind": "mask_edit", "mask_png": base64.b64encode(png_bytes(painted)).decode()},
        headers=eng,
    )
    assert r.status_code == 201, r.text
    assert r.json()["added_pixels"] == 40 and r.json()["removed_pixels"] == 0
    assert (_label(client, a, eng) == painted).all()

    painted[0:2, 0:2] = 2  # the web page's canvas sends RGBA with R = G = B = class index
    rgba = np.dstack([painted, painted, painted, np.full_like(painted, 255)])
    r = client.post(
        f"/api/v1/defects/{a}/corrections",
        json={"kind": "mask_edit", "mask_png": base64.b64encode(png_bytes(rgba)).decode()},
        headers=eng,
    )
    assert r.status_code == 201 and r.json()["added_pixels"] == 4, r.text
    rgba[0, 0, 1] = 9
    r = client.post(
        f"/api/v1/defects/{a}/corrections",
        json={"kind": "mask_edit", "mask_png": base64.b64encode(png_bytes(rgba)).decode()},
        headers=eng,
    )
    assert r.status_code == 422 and "must be grey" in r.text

    history = client.get(f"/api/v1/defects/{a}/corrections", headers=eng).json()
    assert [h["kind"] for h in history] == ["mask_edit", "mask_edit", "confirm"]
    detail = client.get(f"/api/v1/defects/{b}", headers=eng).json()
    assert detail["review_status"] == ReviewStatus.FALSE_POSITIVE and detail["reviewed_by"] == "eng"

    snap = client.post("/api/v1/snapshots", json={"part_family": "HPT1"}, headers=eng)
    assert snap.status_code == 201, snap.text
    body = snap.json()
    assert body["sample_count"] == 1 and len(body["content_sha256"]) == 64
    assert body["class_names"] == CLASSES and body["channels"] == ["uv", "white"]
    again = client.post("/api/v1/snapshots", json={"part_family": "HPT1"}, headers=eng).json()
    assert again["id"] == body["id"]  # same labels, same frozen snapshot
    items = client.get(f"/api/v1/snapshots/{body['id']}", headers=eng).json()["items"]
    assert items[0]["mask_sha256"] == history[0]["mask_sha256"]
    assert (
        client.get(f"/api/v1/captures/{items[0]['capture_id']}/corrections", headers=eng).status_code == 405
    )
    assert [f["channel"] for f in items[0]["frames"]] == ["uv", "white"]


def test_bad_corrections_and_snapshots_are_refused_and_change_nothing(client, life, factory) -> None:
    eng = life["users"]["eng"].headers
    a = life["defects"][0]
    before = _counts(factory)
    wrong_size = base64.b64encode(png_bytes(np.zeros((32, 64), np.uint8))).decode()
    r = client.post(
        f"/api/v1/defects/{a}/corrections", json={"kind": "mask_edit", "mask_png": wrong_size}, headers=eng
    )
    assert r.status_code == 422 and "differs from the capture's 64x64" in r.text
    bad_values = base64.b64encode(png_bytes(np.full((SIZE, SIZE), 7, np.uint8))).decode()
    r = client.post(
        f"/api/v1/defects/{a}/corrections", json={"kind": "mask_edit", "mask_png": bad_values}, headers=eng
    )
    assert r.status_code == 422 and "values [7]" in r.text
    r = client.post(
        f"/api/v1/defects/{a}/corrections", json={"kind": "class_change", "to_class": "nick"}, headers=eng
    )
    assert r.status_code == 422 and "'nick' is not a defect class" in r.text
    r = client.post(f"/api/v1/defects/{a}/corrections", json={"kind": "mask_edit"}, headers=eng)
    assert r.status_code == 422
    tech = life["users"]["tech"].headers
    assert (
        client.post(f"/api/v1/defects/{a}/corrections", json={"kind": "confirm"}, headers=tech).status_code
        == 403
    )
    r = client.post("/api/v1/snapshots", json={"part_family": "HPT1"}, headers=eng)
    assert r.status_code == 422 and "no labelled captures" in r.text
    assert _counts(factory) == before
    assert (_label(client, a, eng) == _mask()).all()
    with factory() as session:
        assert session.get(Defect, a).review_status == ReviewStatus.UNREVIEWED


def test_promotion_rollback_and_who_did_what(client, life, factory) -> None:
    eng = life["users"]["eng"].headers
    registry: ModelRegistry = life["registry"]
    registry.register_candidate(
        ModelCandidate(
            version="v2",
            part_family="HPT1",
            architecture={"ops": ["conv"]},
            weights_path="w2.pt",
            origin="retrained",
            parent_version="v1",
            class_names=CLASSES,
        ),
        Actor(name="retrainer"),
    )
    registry.register_candidate(
        ModelCandidate(version="o1", part_family="OTHER", architecture={}, weights_path="o.pt")
    )
    v2 = registry.get("v2")
    assert v2.origin == "retrained" and v2.parent_version == "v1" and v2.status == "candidate"

    other = registry.get("o1").id
    r = client.post(f"/api/v1/models/{other}/promote", json={"part_family": "HPT1"}, headers=eng)
    assert r.status_code == 422 and "is a 'OTHER' model, not a 'HPT1' one" in r.text
    assert registry.deployed_for("HPT1").version == "v1"

    r = client.post(
        f"/api/v1/models/{v2.id}/promote", json={"part_family": "HPT1", "reason": "better"}, headers=eng
    )
    assert r.status_code == 200, r.text
    assert registry.deployed_for("HPT1").version == "v2" and registry.get("v1").status == "retired"
    r = client.post(f"/api/v1/models/{v2.id}/promote", json={"part_family": "HPT1"}, headers=eng)
    assert r.status_code == 409

    r = client.post(
        "/api/v1/model-life/rollback", json={"part_family": "HPT1", "reason": "worse on line 2"}, headers=eng
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == "v1" and registry.get("v2").status == "retired"

    events = client.get("/api/v1/model-life/events", params={"part_family": "HPT1"}, headers=eng).json()
    assert [(e["action"], e["model_version"], e["previous_version"], e["actor"]) for e in events] == [
        ("rolled_back", "v1", "v2", "eng"),
        ("promoted", "v2", "v1", "eng"),
        ("registered", "v2", None, "retrainer"),
        ("promoted", "v1", None, "designer"),
        ("registered", "v1", None, ""),
    ]
    r = client.post("/api/v1/model-life/rollback", json={"part_family": "NOPE"}, headers=eng)
    assert r.status_code == 404


def test_rollback_of_the_first_model_is_refused(client, life) -> None:
    r = client.post(
        "/api/v1/model-life/rollback", json={"part_family": "HPT1"}, headers=life["users"]["eng"].headers
    )
    assert r.status_code == 409 and "nothing to roll back to" in r.text


def test_lineage_checks_parent_family(life) -> None:
    from database.errors import InvalidInputError

    registry: ModelRegistry = life["registry"]
    registry.register_candidate(
        ModelCandidate(version="o1", part_family="OTHER", architecture={}, weights_path="o")
    )
    with pytest.raises(InvalidInputError, match="is not a 'HPT1' model"):
        registry.register_candidate(
            ModelCandidate(
                version="bad",
                part_family="HPT1",
                architecture={},
                weights_path="b",
                origin="retrained",
                parent_version="o1",
            )
        )
    like = registry.register_candidate(
        ModelCandidate(
            version="like",
            part_family="HPT2",
            architecture={},
            weights_path="l",
            origin="like_family",
            parent_version="v1",
        )
    )
    assert like.architecture_from == "HPT1" and like.parent_version == "v1"


def test_concurrent_corrections_of_one_capture_all_count(live_server, life, factory) -> None:
    """Two engineers mark two defects of one capture false positive at once: both removals stay."""
    from test_races import _together

    eng = life["users"]["eng"].headers
    a, b, _ = life["defects"]
    targets = iter([a, b, a, b])

    def send(client):
        return client.post(
            f"{live_server}/api/v1/defects/{next(targets)}/corrections",
            json={"kind": "false_positive"},
            headers=eng,
        )

    answers = _together(4, send)
    assert sorted(r.status_code for r in answers) == [201] * 4, [r.text for r in answers]

    label_png = httpx.get(f"{live_server}/api/v1/defects/{a}/label.png", headers=eng).content
    label = cv2.imdecode(np.frombuffer(label_png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert (label[10:14, 10:18] == 0).all() and (label[30:36, 30:36] == 0).all()
    assert (label[50:54, 5:15] == 1).all()
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(LabelCorrection)) == 4


def test_concurrent_promotions_leave_one_deployed_and_a_consistent_history(
    live_server, life, factory
) -> None:
    from test_races import _together

    registry: ModelRegistry = life["registry"]
    ids = []
    for n in range(4):
        ids.append(
            registry.register_candidate(
                ModelCandidate(
                    version=f"c{n}",
                    part_family="HPT1",
                    architecture={},
                    weights_path="c",
                    class_names=CLASSES,
                )
            ).id
        )
    targets = iter(ids)
    eng = life["users"]["eng"].headers

    def send(client):
        return client.post(
            f"{live_server}/api/v1/models/{next(targets)}/promote", json={"part_family": "HPT1"}, headers=eng
        )

    answers = _together(4, send)
    assert sorted(r.status_code for r in answers) == [200] * 4, [r.text for r in answers]
    with factory() as session:
        promotions = list(
            session.scalars(select(ModelEvent).where(ModelEvent.action == "promoted").order_by(ModelEvent.id))
        )
    chain = [(e.previous_model_id, e.model_id) for e in promotions[1:]]  # after v1's own promotion
    # Each promotion replaced exactly the model the one before it deployed: a single unbroken chain.
    for (_, deployed), (previous, _) in itertools.pairwise(chain):
        assert previous == deployed
    assert chain[0][0] == registry.get("v1").id
    deployed = [m.version for m in registry.list("HPT1") if m.status == "deployed"]
    assert deployed == [registry.get(chain[-1][1]).version]
