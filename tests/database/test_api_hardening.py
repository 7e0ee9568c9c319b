"""Gaps found by probing the service as an attacker: response headers, what the static mount serves,
the API docs without a CDN, roles on implicit creation, throttled failed sign-ins, path faults."""

from __future__ import annotations

import re

import pytest

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.mark.parametrize(
    "path", ["/ui/", "/ui/app.js", "/docs", "/openapi.json", "/api/v1/health", "/api/v1/defects", "/nope"]
)
def test_every_response_carries_the_security_headers(client, path) -> None:
    response = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (path, name, response.headers)
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    script_src = policy.split("script-src")[1].split(";")[0]
    assert script_src.strip() == "'self'"  # no inline scripts, no eval, no other host


@pytest.mark.parametrize(
    "path", ["/ui/__init__.py", "/ui/__pycache__/__init__.cpython-311.pyc", "/ui/.hidden", "/ui/x.py"]
)
def test_the_web_mount_serves_only_page_assets(client, path) -> None:
    assert client.get(path).status_code == 404


def test_api_docs_load_nothing_from_another_host(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert references and all(ref.startswith("/") and not ref.startswith("//") for ref in references)
    assert "<script>" not in page.text  # no inline script: the CSP allows none
    for ref in references:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert "cdn.jsdelivr.net" not in asset.text and "unpkg.com" not in asset.text
    assert client.get("/redoc").status_code == 404  # ReDoc would need a CDN: not offered


def test_vendored_swagger_ui_is_the_pinned_npm_release() -> None:
    import hashlib

    from database.api.web import SWAGGER_UI, WEB_DIR

    folder = WEB_DIR / SWAGGER_UI
    listed = dict(re.findall(r"^\| (\S+) \| ([0-9a-f]{64}) \|$", (folder / "README.md").read_text(), re.M))
    assert set(listed) == {"swagger-ui-bundle.js", "swagger-ui.css"}
    for name, digest in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    assert f'src="/ui/{SWAGGER_UI}/swagger-ui-bundle.js"' in (WEB_DIR / "docs.html").read_text()


def test_a_technician_cannot_register_families_or_blades_through_a_cycle_start(
    client, users, factory
) -> None:
    from sqlalchemy import func, select

    from database.orm import Blade, CycleRequest, PartFamily

    def counts() -> tuple[int, int, int]:
        with factory() as session:
            return tuple(
                session.scalar(select(func.count()).select_from(t)) for t in (PartFamily, Blade, CycleRequest)
            )

    tech, eng = users["tech"].headers, users["eng"].headers
    assert (
        client.post("/api/v1/blades", json={"serial": "SN-1", "part_family": "HPT1"}, headers=eng).status_code
        == 201
    )
    before = counts()
    for body, what in (
        ({"blade_serial": "SN-NEW", "part_family": "HPT1"}, "blade 'SN-NEW' is not registered"),
        ({"blade_serial": "SN-NEW", "part_family": "NEW-FAM"}, "part family 'NEW-FAM' is not registered"),
    ):
        refused = client.post("/api/v1/cycles", json=body, headers=tech)
        assert refused.status_code == 403, refused.text
        assert what in refused.json()["detail"] and "engineer" in refused.json()["detail"]
        # the catalog routes refuse the same technician the same way
        direct = client.post("/api/v1/blades", json={"serial": "SN-NEW", "part_family": "HPT1"}, headers=tech)
        assert direct.status_code == 403
    assert counts() == before
    started = client.post(
        "/api/v1/cycles", json={"blade_serial": "SN-1", "part_family": "HPT1"}, headers=tech
    )
    assert started.status_code == 202, started.text
    by_engineer = client.post(
        "/api/v1/cycles", json={"blade_serial": "SN-NEW", "part_family": "NEW-FAM"}, headers=eng
    )
    assert by_engineer.status_code == 202  # an engineer may register on the way, as on the catalog routes
    assert counts() == (before[0] + 1, before[1] + 1, before[2] + 2)


def test_failed_authentications_are_throttled_per_client_and_key_prefix(app, client, users) -> None:
    from database.api.throttle import AuthThrottle

    now = [1000.0]
    app.state.auth_throttle = AuthThrottle(per_key=5, per_client=20, window_s=60.0, clock=lambda: now[0])
    real = users["eng"].key
    prefix = real.split("_")[1]
    wrong_same_prefix = {"X-API-Key": f"bc_{prefix}_" + "w" * 43}

    statuses = [client.get("/api/v1/me", headers=wrong_same_prefix).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    refused = client.get("/api/v1/me", headers={"X-API-Key": real})
    assert refused.status_code == 429  # that prefix is locked for this client, the right secret too
    assert int(refused.headers["retry-after"]) == 60 and "too many failed" in refused.json()["detail"]
    other = client.get("/api/v1/me", headers=users["tech"].headers)
    assert other.status_code == 200  # another key from the same client still works

    now[0] += 30
    assert int(client.get("/api/v1/me", headers=wrong_same_prefix).headers["retry-after"]) == 30
    now[0] += 31  # the window has passed
    assert client.get("/api/v1/me", headers={"X-API-Key": real}).status_code == 200

    # Rotating prefixes does not escape the per-client limit.
    codes = [
        client.get("/api/v1/me", headers={"X-API-Key": f"bc_{i:012x}_" + "x" * 43}).status_code
        for i in range(21)
    ]
    assert codes == [401] * 20 + [429]
    assert client.get("/api/v1/me", headers=users["tech"].headers).status_code == 429
    assert client.get("/api/v1/health").status_code == 200  # unauthenticated routes are not throttled
