"""Authentication and roles: every endpoint x every role gives the expected status, keys are hashed at
rest, and nothing leaks across roles (or across technicians)."""

from __future__ import annotations

import base64
import re

import numpy as np
from db_helpers import png_bytes
from sqlalchemy import select
from test_station_api import _save_model, event

from database.orm import ApiKey, Capture, CorrectionKind, Defect, Role
from database.services import CycleQueue, ModelCandidate, ModelRegistry, catalog, model_life
from database.services import labels as label_service
from database.services.progress import ProgressLog
from database.services.registry import Actor

RANK = {"anonymous": -1, "technician": 0, "engineer": 1, "admin": 2}
ROLES = {"anonymous": None, "technician": "tech", "engineer": "eng", "admin": "admin"}


def _matrix(seeded: dict, factory, app) -> tuple[list[tuple[str, str, str, dict, int]], dict, dict, dict]:
    """(method, path, minimum role, request kwargs, success status). `{role}` makes bodies unique;
    `{name}` in a path is `values[name]` (per user where that is a dict, e.g. a model to promote)."""
    users = seeded["users"]
    defect = seeded["defect_ids"][0]
    queue = CycleQueue(factory)
    with factory() as session:  # technicians start cycles only for registered blades
        for role in RANK:
            catalog.create_blade(session, f"M-{role}", "HPT1")
        session.commit()
    own = {
        name: queue.submit(f"OWN-{name}", "HPT1", requested_by=name).request_uuid
        for name in ROLES.values()
        if name
    }
    spare_keys = {}
    from database.services import accounts

    with factory() as session:
        for name in ROLES.values():
            if name:
                row, _ = accounts.create_api_key(
                    session, accounts.get_user(session, users["tech2"].id), f"spare {name}"
                )
                spare_keys[name] = row.id
        session.commit()
    image = png_bytes(np.full((32, 32), 100, np.uint8))

    def annotation(role: str) -> dict:
        mask = np.zeros((32, 32), np.uint8)
        mask[: RANK[role] + 3, :5] = 1  # unique per role, so no duplicate-import conflict
        return {
            "files": {"image": ("i.png", image), "mask": ("m.png", png_bytes(mask))},
            "data": {"part_family": "HPT1", "class_names": "background,crack"},
        }

    tech2 = users["tech2"].id
    values = _seed_model_life_and_station(seeded, factory, app)
    return (
        [
            ("GET", "/api/v1/me", "technician", {}, 200),
            (
                "POST",
                "/api/v1/cycles",
                "technician",
                {"json": {"blade_serial": "M-{role}", "part_family": "HPT1"}},
                202,
            ),
            ("GET", "/api/v1/cycles", "technician", {}, 200),
            ("GET", "/api/v1/cycles/{own}", "technician", {}, 200),
            ("POST", "/api/v1/cycles/{own}/cancel", "technician", {}, 200),
            ("GET", f"/api/v1/inspections/{seeded['cycle_id']}", "engineer", {}, 200),
            ("GET", "/api/v1/defects", "engineer", {"params": {"defect_class": "crack"}}, 200),
            ("GET", "/api/v1/defects/export.csv", "engineer", {}, 200),
            ("GET", f"/api/v1/defects/{defect}", "engineer", {}, 200),
            ("GET", f"/api/v1/defects/{defect}/overlay.png", "engineer", {}, 200),
            ("GET", f"/api/v1/defects/{defect}/capture.png", "engineer", {"params": {"channel": "uv"}}, 200),
            (
                "PATCH",
                f"/api/v1/defects/{defect}/review",
                "engineer",
                {"json": {"review_status": "confirmed"}},
                200,
            ),
            ("GET", "/api/v1/part-families", "engineer", {}, 200),
            ("POST", "/api/v1/part-families", "engineer", {"json": {"code": "PF-{role}"}}, 201),
            ("GET", "/api/v1/blades", "engineer", {"params": {"serial_prefix": "SN"}}, 200),
            (
                "POST",
                "/api/v1/blades",
                "engineer",
                {"json": {"serial": "B-{role}", "part_family": "HPT1"}},
                201,
            ),
            ("GET", "/api/v1/blades/SN-SEED/history", "engineer", {}, 200),
            ("GET", "/api/v1/stats/defects-per-week", "engineer", {}, 200),
            ("GET", "/api/v1/stats/defects-per-family", "engineer", {}, 200),
            ("GET", "/api/v1/models", "engineer", {}, 200),
            ("GET", f"/api/v1/models/{seeded['model_id']}", "engineer", {}, 200),
            ("POST", f"/api/v1/models/{seeded['model_id']}/deploy", "engineer", {}, 200),
            ("POST", "/api/v1/annotations", "engineer", annotation, 201),
            ("GET", "/api/v1/annotations", "engineer", {}, 200),
            ("GET", "/api/v1/annotations/{annotation}", "engineer", {}, 200),
            ("GET", "/api/v1/users", "admin", {}, 200),
            ("POST", "/api/v1/users", "admin", {"json": {"username": "u-{role}", "role": "engineer"}}, 201),
            ("GET", f"/api/v1/users/{tech2}", "admin", {}, 200),
            ("PATCH", f"/api/v1/users/{tech2}", "admin", {"json": {"full_name": "T. Two"}}, 200),
            ("GET", f"/api/v1/users/{tech2}/keys", "admin", {}, 200),
            ("POST", f"/api/v1/users/{tech2}/keys", "admin", {"json": {"name": "k"}}, 201),
            ("POST", "/api/v1/keys/{spare}/revoke", "admin", {}, 200),
            ("GET", "/api/v1/health", "anonymous", {}, 200),
            *_model_life_rows(seeded, values),
            *_station_rows(values),
        ],
        own,
        spare_keys,
        values,
    )


CLASSES = ["background", "crack", "pit"]
FAMILY = {"part_family": "HPT1"}


def _seed_model_life_and_station(seeded: dict, factory, app) -> dict:
    """What the model-life and station rows need, made by the services their own tests use: a
    deployed model with class names that replaced another (so a rollback always has one to go back
    to), one candidate per user to promote, a correction, a snapshot, a health check; a progress
    event with a preview, a blade model with its mesh, registered blades for station starts; and a
    stand-in retrainer (the test server has none: the route would answer 503 by design)."""
    from database.services import accounts

    store = app.state.store
    users = seeded["users"]
    registry = ModelRegistry(factory)

    def candidate(version: str) -> int:
        return registry.register_candidate(
            ModelCandidate(
                version=version,
                part_family="HPT1",
                architecture={"ops": ["conv"]},
                weights_path=f"{version}.pt",
                class_names=CLASSES,
            )
        ).id

    registry.promote("HPT1", candidate("hpt1-v2"), Actor(name="designer"))
    to_promote = {name: candidate(f"hpt1-{name}") for name in ("tech", "eng", "admin")}
    with factory() as session:
        defect = session.get(Defect, seeded["defect_ids"][0])
        capture = session.get(Capture, defect.capture_id)
        eng = accounts.get_user(session, users["eng"].id)
        label_service.correct_defect(session, store, defect.id, CorrectionKind.CONFIRM, eng)
        snapshot = label_service.create_snapshot(session, store, "HPT1", eng)
        model_life.assess(session, store, "HPT1")
        for role in RANK:  # technicians start cycles only for registered blades
            catalog.create_blade(session, f"ST-{role}", "HPT1")
        session.commit()
        painted = np.zeros((capture.height, capture.width), np.uint8)
        painted[:4, :4] = 1
        values = {
            "capture": capture.id,
            "painted": base64.b64encode(png_bytes(painted)).decode(),
            "snapshot": snapshot.id,
            "candidate": to_promote,
        }
    preview = store.put_image(np.full((8, 8), 77, np.uint8))
    values["event"] = ProgressLog(factory).append(
        event("matrix", "progress", "SCANNING", 1, preview_sha256=preview.sha256, preview_channel="white")
    )
    values["sha256"] = _save_model(factory, store, "HPT1").mesh_sha256
    values["family"] = "HPT1"
    app.state.retrain_runner = lambda family, **kwargs: {"version": f"{family}-retrained", "promoted": False}
    return values


def _model_life_rows(seeded: dict, values: dict) -> list[tuple[str, str, str, dict, int]]:
    defect = seeded["defect_ids"][0]
    return [
        ("POST", f"/api/v1/defects/{defect}/corrections", "engineer", {"json": {"kind": "confirm"}}, 201),
        ("GET", f"/api/v1/defects/{defect}/corrections", "engineer", {}, 200),
        ("GET", f"/api/v1/defects/{defect}/label.png", "engineer", {}, 200),
        (
            "POST",
            f"/api/v1/captures/{values['capture']}/corrections",
            "engineer",
            {"json": {"mask_png": values["painted"]}},
            201,
        ),
        ("POST", "/api/v1/snapshots", "engineer", {"json": FAMILY}, 201),  # same labels: the same one
        ("GET", "/api/v1/snapshots", "engineer", {"params": FAMILY}, 200),
        ("GET", f"/api/v1/snapshots/{values['snapshot']}", "engineer", {}, 200),
        # one candidate per user; each rollback re-deploys the model the previous one replaced
        ("POST", "/api/v1/models/{candidate}/promote", "engineer", {"json": FAMILY}, 200),
        ("POST", "/api/v1/model-life/rollback", "engineer", {"json": FAMILY}, 200),
        ("GET", "/api/v1/model-life/events", "engineer", {"params": FAMILY}, 200),
        ("GET", "/api/v1/model-life/health", "engineer", {"params": FAMILY}, 200),
        ("POST", "/api/v1/model-life/health/check", "engineer", {"json": FAMILY}, 200),
        ("GET", "/api/v1/model-life/policy", "engineer", {"params": FAMILY}, 200),
        (
            "PUT",
            "/api/v1/model-life/policy",
            "admin",
            {"json": {**FAMILY, "thresholds": {"miss_rate": 0.5}}},
            200,
        ),
        ("POST", "/api/v1/model-life/retrain", "admin", {"json": FAMILY}, 202),
        ("GET", "/api/v1/model-life/retrain/{job}", "admin", {}, 200),  # the job the row above started
    ]


def _station_rows(values: dict) -> list[tuple[str, str, str, dict, int]]:
    no_link = 409  # the test server has no cell link: allowed roles are told so, the others refused
    return [
        ("GET", "/api/v1/cycles/events", "technician", {"params": {"once": True}}, 200),
        ("GET", f"/api/v1/cycles/events/{values['event']}/preview.png", "technician", {}, 200),
        ("GET", "/api/v1/station/config", "technician", {}, 200),
        ("GET", "/api/v1/station/families", "technician", {}, 200),
        (
            "POST",
            "/api/v1/station/cycles",
            "technician",
            {"json": {"blade_serial": "ST-{role}", "part_family": "HPT1"}},
            202,
        ),
        ("GET", "/api/v1/cell", "technician", {}, 200),
        ("POST", "/api/v1/cell/estop", "technician", {}, no_link),
        ("POST", "/api/v1/cell/reset-estop", "technician", {}, no_link),
        ("POST", "/api/v1/cell/resume", "technician", {"json": {"blade_serial": "SN-SEED"}}, no_link),
        ("GET", "/api/v1/part-families/{family}/blade-model", "technician", {}, 200),
        ("GET", "/api/v1/blade-meshes/{sha256}.bin", "technician", {}, 200),
        ("GET", "/api/v1/blades/SN-SEED/defect-map", "technician", {}, 200),
    ]


def test_every_endpoint_for_every_role(client, seeded, factory) -> None:
    rows, own, spare_keys, values = _matrix(seeded, factory, client.app)
    users = seeded["users"]
    annotation_id = None
    failures = []
    for method, path, minimum, kwargs, ok in rows:
        for role, username in ROLES.items():
            request_kwargs = kwargs(role) if callable(kwargs) else {k: v for k, v in kwargs.items()}
            if "json" in request_kwargs:
                request_kwargs["json"] = {
                    k: v.replace("{role}", role) if isinstance(v, str) else v
                    for k, v in request_kwargs["json"].items()
                }
            owner = username or "tech"
            url = path.replace("{own}", str(own[owner])).replace("{spare}", str(spare_keys[owner]))
            url = url.replace("{annotation}", str(annotation_id))
            for name, value in values.items():
                url = url.replace(f"{{{name}}}", str(value[owner] if isinstance(value, dict) else value))
            headers = users[username].headers if username else {}
            response = client.request(method, url, headers=headers, **request_kwargs)
            if minimum == "anonymous" or RANK[role] >= RANK[minimum]:
                expected = ok
            else:
                expected = 401 if role == "anonymous" else 403
            if response.status_code != expected:
                got = f"{response.status_code} (expected {expected}) {response.text[:120]}"
                failures.append(f"{method} {url} as {role}: {got}")
            elif expected in (401, 403):
                assert set(response.json()) == {"detail"}  # refusals carry no data
            if url == "/api/v1/annotations" and method == "POST" and response.status_code == 201:
                annotation_id = response.json()["id"]
            if url == "/api/v1/model-life/retrain" and response.status_code == 202:
                values["job"] = response.json()["job_id"]
    assert failures == [], "\n".join(failures)


def test_matrix_covers_every_operation_in_the_openapi_schema(client, seeded, factory) -> None:
    rows, *_ = _matrix(seeded, factory, client.app)
    covered = set()
    for method, path, *_ in rows:
        covered.add((method, re.sub(r"/(\d+|\{[a-z]+\}|SN-SEED)(?=/|$)", "/{}", path)))
    documented = set()
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        for method in operations:
            documented.add((method.upper(), re.sub(r"\{[a-z_]+\}", "{}", path)))
    assert documented - covered == set()


def test_technicians_see_only_their_own_cycle_requests(client, users, factory) -> None:
    with factory() as session:  # technicians start cycles only for registered blades
        for serial in ("A-1", "B-1"):
            catalog.create_blade(session, serial, "HPT1")
        session.commit()
    mine = client.post(
        "/api/v1/cycles", json={"blade_serial": "A-1", "part_family": "HPT1"}, headers=users["tech"].headers
    )
    theirs = client.post(
        "/api/v1/cycles", json={"blade_serial": "B-1", "part_family": "HPT1"}, headers=users["tech2"].headers
    )
    assert mine.status_code == theirs.status_code == 202
    listed = client.get("/api/v1/cycles", headers=users["tech"].headers).json()
    assert [r["blade_serial"] for r in listed] == ["A-1"]
    other = client.get(f"/api/v1/cycles/{theirs.json()['request_uuid']}", headers=users["tech"].headers)
    assert other.status_code == 404  # not 403: its existence is not revealed either
    cancel = client.post(
        f"/api/v1/cycles/{theirs.json()['request_uuid']}/cancel", headers=users["tech"].headers
    )
    assert cancel.status_code == 404
    everyone = client.get("/api/v1/cycles", headers=users["eng"].headers).json()
    assert sorted(r["blade_serial"] for r in everyone) == ["A-1", "B-1"]


def test_keys_are_hashed_at_rest_and_shown_once(client, users, factory) -> None:
    created = client.post(
        f"/api/v1/users/{users['eng'].id}/keys", json={"name": "tablet"}, headers=users["admin"].headers
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("bc_") and len(key) > 40
    with factory() as session:
        rows = session.scalars(select(ApiKey)).all()
        for row in rows:
            assert key not in (row.key_hash, row.prefix, row.name)
            assert re.fullmatch(r"[0-9a-f]{64}", row.key_hash)
    listed = client.get(f"/api/v1/users/{users['eng'].id}/keys", headers=users["admin"].headers).json()
    assert all("key" not in k for k in listed)
    assert client.get("/api/v1/me", headers={"X-API-Key": key}).json()["username"] == "eng"


INVALID_KEYS = [
    "",
    "garbage",
    "bc_000000000000_" + "x" * 43,
    "Bearer something",
    "bc_' OR '1'='1_" + "x" * 30,
]


def test_invalid_keys_are_401(client, users) -> None:
    for presented in INVALID_KEYS:
        response = client.get("/api/v1/me", headers={"X-API-Key": presented})
        assert response.status_code == 401, presented
        assert response.headers["www-authenticate"] == "APIKey"
    assert client.get("/api/v1/me").json()["detail"] == "missing X-API-Key header"


def test_revoked_key_wrong_secret_and_deactivated_user_are_401(client, users) -> None:
    admin = users["admin"].headers
    right = users["eng"].key
    wrong_secret = right[: right.rindex("_") + 1] + ("A" if right[-1] != "A" else "B") * 43
    assert client.get("/api/v1/me", headers={"X-API-Key": wrong_secret}).status_code == 401
    keys = client.get(f"/api/v1/users/{users['eng'].id}/keys", headers=admin).json()
    assert client.post(f"/api/v1/keys/{keys[0]['id']}/revoke", headers=admin).json()["revoked_at"] is not None
    assert client.get("/api/v1/me", headers=users["eng"].headers).status_code == 401
    assert (
        client.patch(f"/api/v1/users/{users['tech'].id}", json={"active": False}, headers=admin).status_code
        == 200
    )
    assert client.get("/api/v1/me", headers=users["tech"].headers).status_code == 401


def test_user_admin_validation(client, users) -> None:
    admin = users["admin"].headers
    duplicate = client.post("/api/v1/users", json={"username": "eng", "role": "engineer"}, headers=admin)
    assert duplicate.status_code == 409 and "already exists" in duplicate.json()["detail"]
    bad_role = client.post("/api/v1/users", json={"username": "x1", "role": "superuser"}, headers=admin)
    assert bad_role.status_code == 422 and bad_role.json()["detail"][0]["loc"] == ["body", "role"]
    assert client.get("/api/v1/users/999999", headers=admin).status_code == 404
    for change in ({"active": False}, {"role": "engineer"}):
        locked_out = client.patch(f"/api/v1/users/{users['admin'].id}", json=change, headers=admin)
        assert locked_out.status_code == 409 and "yourself" in locked_out.json()["detail"]
    own_key = client.get(f"/api/v1/users/{users['admin'].id}/keys", headers=admin).json()[0]["id"]
    refused = client.post(f"/api/v1/keys/{own_key}/revoke", headers=admin)
    assert refused.status_code == 409 and "this request was made with" in refused.json()["detail"]
    assert client.get("/api/v1/me", headers=admin).status_code == 200
    promoted = client.patch(f"/api/v1/users/{users['tech'].id}", json={"role": "engineer"}, headers=admin)
    assert promoted.json()["role"] == Role.ENGINEER
    assert client.get("/api/v1/defects", headers=users["tech"].headers).status_code == 200
