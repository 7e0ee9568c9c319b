"""The technician's station against a running simulated cell (`bladecell up --sim --serve PORT`), in
headless Chromium: start a cycle from a scanned serial, watch the progress events arrive, press the
e-stop on the page mid-scan (the cell halts through its real e-stop path and the cycle faults), reset
and resume from the page, and see the verdict."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest
from cell_helpers import BASE_PARAMS, FAMILY, deploy_model, merge, write_params

pytestmark = [pytest.mark.ros, pytest.mark.browser, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
SERIAL = "SN-STATION-1"
# Screenshots go to the test's tmp folder, or to BLADECELL_SCREENSHOTS (docs/screenshots holds the
# committed ones: BLADECELL_SCREENSHOTS=docs/screenshots pytest ...).
SCREENSHOTS_ENV = "BLADECELL_SCREENSHOTS"


def screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _technician() -> str:
    """A technician with a key, and the blade registered (technicians start registered blades only)."""
    from database.engine import create_db_engine, make_session_factory
    from database.orm import Role
    from database.services import accounts, catalog
    from database.settings import load_settings

    engine = create_db_engine(load_settings().url)
    try:
        with make_session_factory(engine)() as session:
            user = accounts.create_user(session, "tina", Role.TECHNICIAN)
            _, key = accounts.create_api_key(session, user, "station")
            catalog.create_blade(session, SERIAL, FAMILY)
            session.commit()
    finally:
        engine.dispose()
    return key


def test_station_starts_a_cycle_estops_resumes_and_shows_the_verdict(
    ros_processes, cell_home, tmp_path, tiny_model_dir
) -> None:
    shots = screenshot_dir(tmp_path)
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip(f"Debian chromium not installed at {CHROMIUM}")
    import httpx
    from bladecell_ros.transport.client import CellClient
    from playwright.sync_api import sync_playwright
    from ros_support import wait_until

    deploy_model(tiny_model_dir)
    key = _technician()
    params = write_params(
        tmp_path / "params.yaml",
        merge(
            BASE_PARAMS,
            {"sim_cell": {"timing": "realtime", "speed": 1.0}, "cell_coordinator": {"max_viewpoints": 6}},
        ),
    )
    port = _free_port()
    up = ros_processes.start(
        ["-m", "bladecell_ros.cli", "up", "--sim", "--params", str(params),
         "--log-dir", str(tmp_path / "logs"), "--serve", str(port)],
        name="up",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        assert up.poll() is None, ros_processes.log_of(up)
        try:
            return httpx.get(f"{base}/api/v1/cell", headers={"X-API-Key": key}, timeout=5).json()["linked"]
        except httpx.HTTPError:
            return False

    wait_until(serving, 300, lambda: time.sleep(0.2), "the cell's web server")
    with CellClient() as client, sync_playwright() as p:
        client.wait_for_coordinator(180)
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox"], headless=True
        )
        page = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(180_000)
        page.goto(f"{base}/ui/station.html")
        page.fill("#api-key", key)
        page.click("#sign-in")
        page.locator("#stream-state", has_text="events: live").wait_for()
        page.locator("#cell-link", has_text="cell linked").wait_for()

        # An e-stop while no cycle runs: latched all the same, and the page says what it means.
        page.click("#estop")
        page.locator("#message", has_text="e-stop pressed while no cycle was running").wait_for()
        client.wait_status(lambda s: s.estop_active and s.state == "IDLE", 30, "the idle cell's e-stop")
        page.locator("#fault-actions:not([hidden])").wait_for()
        page.click("#reset-btn")
        page.locator("#message", has_text="e-stop reset").wait_for()
        client.wait_status(lambda s: not s.estop_active, 30, "the e-stop reset")

        page.select_option("#family", FAMILY)
        page.fill("#serial", SERIAL.lower())
        page.press("#serial", "Enter")  # what a barcode scanner does
        page.locator("#message", has_text=f"Queued {SERIAL}").wait_for()

        # Progress pushed by the cell: loading, then the scan viewpoint by viewpoint with its preview.
        page.wait_for_function(
            "window.__station.events.some(e => e.state === 'SCANNING' && e.viewpoint_index >= 1)"
        )
        page.wait_for_function("document.querySelector('#preview').naturalWidth > 0")
        assert page.text_content("#viewpoint").endswith("of 6")
        assert "channel" in page.text_content("#preview-caption")

        page.screenshot(path=str(shots / "station-sim-scanning.png"))

        # E-stop from the page mid-scan: the cell halts and the cycle faults.
        page.click("#estop")
        page.locator("#message", has_text="E-STOP pressed: arm and stage halted").wait_for()
        status = client.wait_status(lambda s: s.estop_active and s.state == "FAULTED", 30, "the e-stop fault")
        assert status.blade_serial == SERIAL and status.viewpoint_index < 6
        page.locator("#state", has_text="FAULTED").wait_for()
        page.locator("#fault-actions:not([hidden])").wait_for()
        page.screenshot(path=str(shots / "station-estop.png"))

        # Reset and resume from the page; the cycle completes and the verdict appears.
        page.click("#reset-btn")
        page.locator("#message", has_text="e-stop reset").wait_for()
        client.wait_status(lambda s: not s.estop_active, 30, "the e-stop reset")
        page.click("#resume-btn")
        page.wait_for_function("document.querySelector('#message').textContent.includes('resum')")
        page.locator("#state", has_text="SCANNING").wait_for()  # the resumed cycle, where it stopped
        page.wait_for_function(
            "['PASS', 'FAIL'].includes(document.querySelector('#verdict').textContent)", timeout=600_000
        )
        verdict = page.text_content("#verdict")
        assert verdict in ("PASS", "FAIL"), page.text_content("#verdict-blade")
        if verdict == "FAIL":
            assert page.locator("#rejecting li").count() >= 1
        page.screenshot(path=str(shots / "station-sim-verdict.png"))
        kinds = page.evaluate("window.__station.events.map(e => e.kind + ':' + e.state)")
        assert "state:LOADING" in kinds and "estop:FAULTED" in kinds and "end:DONE" in kinds
        assert errors == []
        browser.close()
    request = httpx.get(f"{base}/api/v1/cycles", headers={"X-API-Key": key}, timeout=10).json()[0]
    assert request["blade_serial"] == SERIAL and request["state"] == "done"
    assert request["verdict"] == verdict.lower()
    up.send_signal(__import__("signal").SIGINT)
    assert up.wait(120) == 0, ros_processes.log_of(up)
