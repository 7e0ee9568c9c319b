"""The quality engineers' web page in headless Chromium (Debian's, driven by Playwright): sign in,
search, results, detail with overlay, the trend chart, review, CSV download, errors, no script injection."""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from database.services import CycleRecorder
from database.services.demo import seed_demo

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip(f"Debian chromium not installed at {CHROMIUM} (scripts/setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


def _page(browser, *, bypass_csp: bool):
    context = browser.new_context(
        accept_downloads=True, viewport={"width": 1280, "height": 1400}, bypass_csp=bypass_csp
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    return context, page


@pytest.fixture
def browser_page(browser) -> Iterator:
    """A page for driving the UI; CSP bypassed because Playwright's wait_for_function evaluates
    strings, which the policy forbids (test_page_and_docs_run_under_the_csp checks the policy)."""
    context, page = _page(browser, bypass_csp=True)
    yield page
    context.close()


@pytest.fixture
def strict_page(browser) -> Iterator:
    """A page that obeys the server's Content-Security-Policy, as a real browser does."""
    context, page = _page(browser, bypass_csp=False)
    yield page
    context.close()


def test_search_detail_chart_review_and_csv(
    live_server, browser_page, client, users, factory, store, builder, tmp_path
):
    seed_demo(factory, store, blades_per_family=3, cycles_per_blade=2, viewpoints=2, image_size=96, seed=3)
    CycleRecorder(factory).record(
        builder.record("<img src=x onerror=window.__xss=1>", "HPT1-B", defects=[{}])
    )
    headers = users["eng"].headers
    page = browser_page
    page.set_default_timeout(15_000)

    page.goto(f"{live_server}/")  # redirects to /ui/
    assert page.url.endswith("/ui/")
    page.fill("#api-key", users["eng"].key)
    page.click("#sign-in")
    page.wait_for_function("document.querySelector('#whoami').textContent.includes('eng')")
    assert page.text_content("#whoami") == "signed in as eng (engineer)"

    # Initial search (everything): table rows and the count agree with the API.
    page.wait_for_selector("#results tbody tr")
    api_total = client.get("/api/v1/defects", params={"include_total": True}, headers=headers).json()["total"]
    page.wait_for_function(f"document.querySelector('#result-count').textContent === '({api_total} found)'")
    assert page.locator("#results tbody tr").count() == min(50, api_total)
    assert page.evaluate("window.__xss") is None  # the serial was shown as text, not run
    assert page.locator("td", has_text="<img src=x onerror=window.__xss=1>").count() == 1

    # Filtered search through the form.
    page.select_option("#f-family", "HPT1-B")
    page.fill("#f-class", "crack")
    page.click("#search-btn")
    api = client.get(
        "/api/v1/defects",
        params={"part_family": "HPT1-B", "defect_class": "crack", "include_total": True, "limit": 50},
        headers=headers,
    ).json()
    assert api["total"] > 0
    page.wait_for_function(
        f"document.querySelector('#result-count').textContent === '({api['total']} found)'"
    )
    classes = page.locator("#results tbody tr td:nth-child(5)").all_text_contents()
    families = page.locator("#results tbody tr td:nth-child(4)").all_text_contents()
    assert set(classes) == {"crack"} and set(families) == {"HPT1-B"}
    ids = [int(x) for x in page.locator("#results tbody tr td:nth-child(1)").all_text_contents()]
    assert ids == [d["id"] for d in api["items"]]

    # The trend chart: one line per class the statistics report.
    stats = client.get(
        "/api/v1/stats/defects-per-week",
        params={"part_family": "HPT1-B", "defect_class": "crack"},
        headers=headers,
    ).json()
    page.wait_for_selector("#trend-chart svg polyline", state="attached")
    assert page.locator("#trend-chart svg polyline").count() == len(stats["classes"]) == 1
    assert int(page.get_attribute("#trend-chart svg", "data-weeks")) == len(stats["weeks"]) > 0

    # Detail with the overlay image.
    page.click("#results tbody tr >> nth=0")
    page.wait_for_selector("#detail:not([hidden])")
    page.wait_for_function("document.querySelector('#overlay-img').naturalWidth > 0")
    assert page.evaluate("document.querySelector('#overlay-img').naturalWidth") >= 320
    assert page.text_content("#detail-id") == f"#{ids[0]}"
    assert page.text_content("dd[data-field='Blade']") == api["items"][0]["blade_serial"]
    page.screenshot(path=str(tmp_path / "web-page.png"), full_page=True)

    # Review from the page; the API sees it.
    page.click("#review-confirm")
    page.wait_for_function("document.querySelector(\"dd[data-field='Review']\").textContent === 'confirmed'")
    assert client.get(f"/api/v1/defects/{ids[0]}", headers=headers).json()["reviewed_by"] == "eng"

    # CSV download of the current filter.
    with page.expect_download() as download_info:
        page.click("#csv-btn")
    download = download_info.value
    assert download.suggested_filename.startswith("defects-") and download.suggested_filename.endswith(".csv")
    target = tmp_path / "download.csv"
    download.save_as(target)
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == api["total"] and {r["defect_class"] for r in rows} == {"crack"}

    # A malformed filter shows the API's message instead of a silent failure.
    page.fill("#f-min-area", "5")
    page.fill("#f-max-area", "1")
    page.click("#search-btn")
    page.wait_for_selector("#error-banner:not([hidden])")
    assert "min_area_mm2 (5.0) is greater than max_area_mm2 (1.0)" in page.text_content("#error-banner")
    assert page.js_errors == []


def test_wrong_key_is_reported_on_the_page(live_server, browser_page, users) -> None:
    page = browser_page
    page.goto(f"{live_server}/ui/")
    page.fill("#api-key", "bc_000000000000_" + "x" * 43)
    page.click("#sign-in")
    page.wait_for_selector("#error-banner:not([hidden])")
    assert page.text_content("#error-banner").startswith("401: missing or invalid API key")
    assert page.text_content("#whoami") == ""
    # A technician may sign in but sees the search refused, not data.
    page.fill("#api-key", users["tech"].key)
    page.click("#sign-in")
    page.wait_for_function("document.querySelector('#error-banner').textContent.startsWith('403')")
    assert page.locator("#results tbody tr").count() == 0


def test_page_and_docs_run_under_the_csp_and_load_only_from_this_server(
    live_server, strict_page, seeded
) -> None:
    """The Content-Security-Policy blocks nothing the page or the docs need, and neither asks another
    host for anything (the Swagger UI files are vendored)."""
    page = strict_page
    page.set_default_timeout(15_000)
    requested: list[str] = []
    console: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: console.append(message.text))

    page.goto(f"{live_server}/docs")
    page.wait_for_selector(".opblock-summary-path")  # the operations were rendered
    assert page.locator(".opblock").count() > 20
    page.goto(f"{live_server}/ui/")
    page.fill("#api-key", seeded["users"]["eng"].key)
    page.click("#sign-in")
    page.locator("#whoami", has_text="signed in as eng").wait_for()
    page.locator("#results tbody tr").first.wait_for()  # the search ran and rendered under the policy
    page.locator("#results tbody tr").first.click()
    page.locator("#detail:not([hidden])").wait_for()
    overlay = page.locator("#overlay-img")
    deadline = time.monotonic() + 15
    while not overlay.evaluate("img => img.complete && img.naturalWidth > 0"):  # blob: URL under img-src
        assert time.monotonic() < deadline, "the overlay image never loaded under the CSP"
        page.wait_for_timeout(50)

    foreign = [url for url in requested if not url.startswith((live_server, "data:", "blob:"))]
    assert foreign == []
    assert [m for m in console if "Content Security Policy" in m] == []
    assert page.js_errors == []
