"""The station and blade-map targets, measured in headless Chromium (a script, not a test).

1. Progress lag: the cell's progress rows (written through `ProgressLog`, as the coordinator does)
   against the moment the station page, subscribed to the event stream, has them: `Date.now()` in the
   page's event handler minus the row's `created_at` (one machine, one clock). Target: < 1 s.
2. Blade-map render: a blade with `--defects` defects (default 200) on the real generated blade, from
   navigation start to the first frame drawn with every marker, over `--repeats` fresh page loads.
   Target: < 2 s, in headless Chromium (WebGL on SwiftShader, no GPU).

    .venv/bin/python benchmarks/station.py                      # both, SQLite in a temporary folder
    .venv/bin/python benchmarks/station.py --events 100 --interval 0.2 --defects 200 --repeats 5

The cell itself is not running here: the rows are written at the rate a cycle writes them; the
real cell's path to the rows (runner event -> coordinator -> one INSERT) adds one transaction.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "ros2_ws/src/bladecell_ros")]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
         "--ignore-gpu-blocklist", "--disable-background-networking", "--no-first-run"]  # fmt: skip


def serve(app):
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=60, help="progress rows for the lag")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between rows (the feed's)")
    parser.add_argument("--defects", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from bladecell_ros.services.blade_map_demo import seed_blade_map
    from playwright.sync_api import sync_playwright

    from database import migrate
    from database.api import create_app
    from database.api.schemas.station import CycleEventIn
    from database.engine import create_db_engine, make_session_factory
    from database.orm import Role
    from database.services import accounts
    from database.services.progress import ProgressLog
    from database.settings import DatabaseSettings
    from database.storage import ContentStore

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        url = f"sqlite:///{home / 'bench.sqlite3'}"
        migrate.upgrade(url)
        engine = create_db_engine(url)
        factory = make_session_factory(engine)
        with factory() as session:
            user = accounts.create_user(session, "bench", Role.ENGINEER)
            _, key = accounts.create_api_key(session, user, "bench")
            session.commit()
        store = ContentStore(home)
        seed_blade_map(factory, store, serial="SN-BENCH", family="HPT-BENCH", defects=args.defects, cycles=1)
        server, base = serve(create_app(DatabaseSettings(home=home, database_url=url), engine))
        log = ProgressLog(factory)
        ok = True
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)

            # 1. progress lag
            page = browser.new_context(bypass_csp=True).new_page()
            page.goto(f"{base}/ui/station.html")
            page.fill("#api-key", key)
            page.click("#sign-in")
            page.locator("#stream-state", has_text="events: live").wait_for(timeout=30_000)
            for i in range(args.events):
                log.append(CycleEventIn(cell="cell-1", cycle_id="bench", blade_serial="SN-BENCH",
                                        part_family="HPT-BENCH", kind="progress", state="SCANNING",
                                        viewpoint_index=i, viewpoint_count=args.events))  # fmt: skip
                time.sleep(args.interval)  # the cell's pace, not a wait for a condition
            page.wait_for_function(f"window.__station.events.length >= {args.events}", timeout=60_000)
            got = page.evaluate("window.__station.events.map(e => [e.created_at, e.received_at])")
            lags = [r / 1000 - datetime.fromisoformat(c).timestamp() for c, r in got]
            p50, p95, worst = (1000 * statistics.median(lags), 1000 * pct(lags, 0.95), 1000 * max(lags))
            print(f"progress lag over {len(lags)} events: p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
                  f"max {worst:.0f} ms (target < 1000 ms)")  # fmt: skip
            ok &= max(lags) < 1.0

            # 2. blade map render
            times = []
            for _ in range(args.repeats):
                context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 1000})
                context.add_init_script(f"sessionStorage.setItem('bladecell-key', '{key}')")
                page = context.new_page()
                page.goto(f"{base}/ui/blademap.html?serial=SN-BENCH")
                page.wait_for_function("window.__blademap && window.__blademap.ready", timeout=60_000)
                assert page.evaluate("window.__blademap.markers.length") == args.defects
                times.append(page.evaluate("window.__blademap.renderMs") / 1000)
                context.close()
            median = statistics.median(times)
            print(f"blade map, {args.defects} defects, {args.repeats} loads: median {median:.2f} s, "
                  f"max {max(times):.2f} s (target < 2 s)")  # fmt: skip
            ok &= max(times) < 2.0
            browser.close()
        server.should_exit = True
        engine.dispose()
    print("targets met" if ok else "a target was MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
