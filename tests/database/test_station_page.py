"""The technician's station in headless Chromium against the records API (no ROS: a fake cell link and
progress rows written as the coordinator writes them): start from a scanned serial, the queue, bad
input on the page, live progress with the capture preview, a lost event stream that reconnects and
catches up, the verdict with its rejecting defects, the e-stop with and without a cell link."""

# ruff: noqa: F811  (the browser fixtures are imported from test_web_page and used as arguments)
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from test_station_api import FakeLink, event
from test_web_page import browser, browser_page, strict_page  # noqa: F401 (fixtures)

from database.services import ModelCandidate, ModelRegistry, catalog
from database.services.progress import ProgressLog

pytestmark = pytest.mark.browser
# Screenshots go to the test's tmp folder, or to BLADECELL_SCREENSHOTS (docs/screenshots holds the
# committed ones: BLADECELL_SCREENSHOTS=docs/screenshots pytest ...).
SCREENSHOTS_ENV = "BLADECELL_SCREENSHOTS"


def screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _families(factory) -> None:
    registry = ModelRegistry(factory)
    registry.register_candidate(
        ModelCandidate(version="hpt1-v1", part_family="HPT1", architecture={}, weights_path="w.pt")
    )
    registry.deploy("hpt1-v1")
    with factory() as session:
        catalog.ensure_family(session, "LPT2")
        catalog.create_blade(session, "SN-000123", "HPT1")
        catalog.create_blade(session, "SN-000777", "LPT2")
        session.commit()


def _message(page, text: str) -> None:
    page.locator("#message", has_text=text).wait_for()


def test_station_start_queue_progress_reconnect_verdict_and_estop(
    live_server,
    browser_page,
    users,
    factory,
    store,
    app,
    tmp_path,
):
    shots = screenshot_dir(tmp_path)
    _families(factory)
    page = browser_page
    page.set_default_timeout(20_000)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server}/ui/station.html")
    page.fill("#api-key", users["tech"].key)
    page.click("#sign-in")
    page.locator("#whoami", has_text="tech (technician)").wait_for()
    page.locator("#stream-state", has_text="events: live").wait_for()
    assert page.text_content("#cell-link") == "no cell link"
    assert page.locator("#family option").all_text_contents() == ["HPT1", "LPT2 (no model yet)"]

    # A scanner types the serial and presses Enter.
    page.select_option("#family", "HPT1")
    page.fill("#serial", "§§ 12?")
    page.press("#serial", "Enter")
    _message(page, "is not a serial format this station knows")
    page.fill("#serial", "sn-000123")
    page.press("#serial", "Enter")
    _message(page, "Queued SN-000123 (HPT1)")
    page.locator("#queue li[data-serial='SN-000123']").wait_for()
    assert page.input_value("#serial") == ""  # ready for the next scan
    page.fill("#serial", "SN-000123")
    page.press("#serial", "Enter")
    _message(page, "already has an active cycle request")
    assert page.locator("#queue li").count() == 1

    # A family without a deployed model: said before, refused on Enter, offered as a design.
    page.select_option("#family", "LPT2")
    assert "has no deployed model" in page.text_content("#family-note")
    page.fill("#serial", "SN-000777")
    page.press("#serial", "Enter")
    _message(page, "confirm the first-time design")
    page.click("#design-btn")
    _message(page, "Queued SN-000777 (LPT2)")
    page.locator("#queue li[data-serial='SN-000777']").wait_for()

    # E-stop without a cell link: the page says so (nothing pretends to have stopped the cell).
    page.click("#estop")
    _message(page, "no link to a cell")

    # Live progress, as the coordinator writes it.
    log = ProgressLog(factory)
    frame = store.put_image((np.arange(64 * 64).reshape(64, 64) % 251).astype(np.uint8))
    log.append(event("c1", "state", "LOADING", message="loading the blade"))
    log.append(
        event("c1", "progress", "SCANNING", 1, fraction=0.24, elapsed_s=30.0, eta_s=95.0,
              preview_sha256=frame.sha256, preview_channel="uv")
    )  # fmt: skip
    page.locator("#viewpoint", has_text="1 of 4").wait_for()
    assert page.text_content("#state") == "SCANNING"
    page.wait_for_function("document.querySelector('#preview').naturalWidth === 64")
    assert page.text_content("#preview-caption") == "viewpoint 1 of 4, channel uv"
    assert page.text_content("#eta").endswith("s")

    # The stream drops; what happens meanwhile arrives once it reconnects, once each.
    page.evaluate("window.__station.stream.drop()")
    log.append(event("c1", "progress", "SCANNING", 2, fraction=0.4))
    log.append(event("c1", "progress", "SCANNING", 3, fraction=0.5))
    page.locator("#viewpoint", has_text="3 of 4").wait_for()
    ids = page.evaluate("window.__station.events.map(e => e.id)")
    assert ids == sorted(set(ids)) and len(ids) == 4

    # The verdict.
    log.append(
        event("c1", "end", "DONE", 4, verdict="fail", defect_count=3, message="3 defects, blade fail",
              rejecting=[{"defect_class": "burn", "area_mm2": 6.5, "viewpoint_index": 2,
                          "reason": "burn 6.50 mm² >= 4.0 mm² at viewpoint 2"}])
    )  # fmt: skip
    page.locator("#verdict-box:not([hidden])").wait_for()
    assert page.text_content("#verdict") == "FAIL"
    assert page.locator("#rejecting li").all_text_contents() == ["burn 6.50 mm² >= 4.0 mm² at viewpoint 2"]
    assert page.get_attribute("#map-link", "href") == "blademap.html?serial=SN-1"
    big = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#verdict')).fontSize)")
    assert big >= 100
    page.screenshot(path=str(shots / "station-verdict.png"))

    # With a cell link the e-stop acts through it; the technician sees the cell's answer.
    app.state.cell_link = link = FakeLink()
    page.click("#estop")
    _message(page, "pressed")
    assert link.calls == ["estop"]
    # Touch panel: every control is at least 56 px high.
    small = page.evaluate(
        "[...document.querySelectorAll('button:not([hidden]), select, #serial')]"
        ".filter(b => b.offsetParent && b.getBoundingClientRect().height < 56).map(b => b.id)"
    )
    assert small == []
    assert page.js_errors == []


def test_station_page_runs_under_the_csp_and_loads_only_from_this_server(
    live_server,
    strict_page,
    users,
):
    page = strict_page
    page.set_default_timeout(15_000)
    requested: list[str] = []
    console: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{live_server}/ui/station.html")
    page.fill("#api-key", users["tech"].key)
    page.click("#sign-in")
    page.locator("#stream-state", has_text="events: live").wait_for()
    assert [u for u in requested if not u.startswith((live_server, "data:", "blob:"))] == []
    assert [m for m in console if "Content Security Policy" in m] == []
    assert page.js_errors == []
