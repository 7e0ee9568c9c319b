"""The blade map in headless Chromium (WebGL through SwiftShader): the family's real blade model, 200
defects on its surface over two cycles; every marker sits at its recorded location, a tap on a marker
opens that defect with its overlay, the viewpoints show as frusta, the 2D unwrapped view and the
history show every located defect, and nothing loads from another host."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
# WebGL without a GPU: ANGLE on SwiftShader (Chromium no longer falls back to it on its own).
FLAGS = ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
         "--ignore-gpu-blocklist", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync"]  # fmt: skip
# Screenshots go to the test's tmp folder, or to BLADECELL_SCREENSHOTS (docs/screenshots holds the
# committed ones: BLADECELL_SCREENSHOTS=docs/screenshots pytest ...).
SCREENSHOTS_ENV = "BLADECELL_SCREENSHOTS"


def screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


FAMILY = "HPT-MAP"


@pytest.fixture
def webgl_browser() -> Iterator:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip(f"Debian chromium not installed at {CHROMIUM} (scripts/setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


def test_blade_map_markers_sit_at_the_recorded_locations(
    live_server, webgl_browser, users, factory, store, builder, client, tmp_path
):
    shots = screenshot_dir(tmp_path)
    from bladecell_ros.services.blade_map_demo import seed_blade_map

    seed_blade_map(factory, store, serial="SN-MAP", family=FAMILY, defects=100, cycles=2)
    context = webgl_browser.new_context(viewport={"width": 1280, "height": 1000}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    requested: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: requested.append(request.url))
    page.set_default_timeout(60_000)
    page.goto(f"{live_server}/ui/blademap.html")
    page.fill("#api-key", users["eng"].key)
    page.fill("#serial", "SN-MAP")
    page.click("#open-btn")
    page.wait_for_function("window.__blademap && window.__blademap.ready")
    api = client.get("/api/v1/blades/SN-MAP/defect-map", headers=users["eng"].headers).json()
    newest = api["cycles"][-1]
    markers = page.evaluate("window.__blademap.project()")
    assert len(markers) == len(newest["defects"]) == 100
    recorded = {d["id"]: d for d in newest["defects"]}
    for m in markers:
        d = recorded[m["id"]]
        assert m["position"] == d["location_mm"]
        assert m["cycle_id"] == newest["cycle_id"] and m["defect_class"] == d["defect_class"]
    # The marker nearest the camera, away from the others: a tap there opens that defect.
    screens = np.array([m["screen"] for m in markers])
    spread = [np.sort(np.linalg.norm(screens - s, axis=1))[1] for s in screens]
    lonely = markers[int(np.argmax(spread))]
    page.mouse.click(*lonely["screen"])
    page.locator("#detail-id", has_text=f"#{lonely['id']}").wait_for()
    assert page.text_content("dd[data-field='Class']") == lonely["defect_class"]
    page.wait_for_function("document.querySelector('#overlay-img').naturalWidth > 0")
    # Frusta: one per captured viewpoint of the cycle, toggled.
    assert page.evaluate("window.__blademap.frustaShown()") == 0
    page.check("#frusta")
    assert page.evaluate("window.__blademap.model.viewpoints.length") == 6
    assert page.evaluate("window.__blademap.frustaShown()") == 6  # the cycle captured all six
    # 2D unwrapped view and the history: every located defect, per cycle.
    assert page.locator("#unwrapped-svg circle").count() == 100
    assert page.locator("#history-panels svg").count() == 2
    assert page.locator("#history-panels svg circle").count() == 200
    grown = page.locator("#growth tbody tr").first.locator("td").all_text_contents()
    assert len(grown) == 4 and grown[2] != "–" and grown[3] != "–"
    page.screenshot(path=str(shots / "blademap.png"), full_page=True)
    # Printing keeps the 2D map and the history, not the 3D view or the controls.
    page.emulate_media(media="print")
    shown = page.evaluate(
        "['#view3d', 'header', '#unwrapped', '#history']"
        ".map(s => getComputedStyle(document.querySelector(s)).display !== 'none')"
    )
    assert shown == [False, False, True, True]
    page.emulate_media(media="screen")
    assert [u for u in requested if not u.startswith((live_server, "data:", "blob:"))] == []
    assert errors == []
    context.close()

    # A technician (the station's verdict links here) sees the map; the overlay needs an engineer.
    context = webgl_browser.new_context(viewport={"width": 1280, "height": 1000}, bypass_csp=True)
    context.add_init_script(f"sessionStorage.setItem('bladecell-key', '{users['tech'].key}')")
    page = context.new_page()
    page.goto(f"{live_server}/ui/blademap.html?serial=SN-MAP")
    page.wait_for_function("window.__blademap && window.__blademap.ready", timeout=60_000)
    marker = page.evaluate("window.__blademap.project()")[int(np.argmax(spread))]
    page.mouse.click(*marker["screen"])
    page.locator("#overlay-note", has_text="needs the engineer role").wait_for()
    context.close()
