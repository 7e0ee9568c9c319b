"""The station and blade-map targets, measured in headless Chromium (a script, not a test).

1. Progress lag: the cell's progress rows (written through `ProgressLog`, as the coordinator does)
   against the moment the station page, subscribed to the event stream, has them: `Date.now()` in the
   page's event handler minus the row's `created_at` (one machine, one clock). Target: < 1 s.
2. Blade-map render: a blade with `--defects` defects (default 200) on the real generated blade, from
   navigation start to the first frame drawn with every marker, over `--repeats` fresh page loads.
   Target: < 2 s, in headless Chromium (WebGL on SwiftShader, no GPU).

    .venv/bin/python benchmarks/station.py                      # both, SQLite in a temporary folder
    .venv/bin/python benchmarks/station.py --events 100 --interval 0.2 --defects 200 --repeats 5
    .venv/bin/python benchmarks/station.py --cell     # lag against a running `bladecell up --sim`

Without `--cell` the rows are written at the rate a cycle writes them, by this script. With `--cell`
the simulated cell runs (`bladecell up --sim --serve`, tiny model as in the ROS tests, 128 px frames)
and one cycle is started from the page; the lag of each event is the page's receipt minus the moment
this script's ROS client received the coordinator's CellStatus for the same state and viewpoint
(the coordinator publishes it when it hands the event to the progress feed).
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
    parser.add_argument(
        "--cell", action="store_true", help="measure the lag against a running simulated cell"
    )
    parser.add_argument("--viewpoints", type=int, default=8, help="--cell: the scan's viewpoints")
    args = parser.parse_args()
    if args.cell:
        return cell_lag(args)

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


def cell_lag(args) -> int:
    """Start the simulated cell with the web server, run one cycle from the station page, report lag."""
    import os
    import subprocess

    import httpx
    import yaml
    from playwright.sync_api import sync_playwright

    sys.path[:0] = [str(ROOT / "tests" / "ros"), str(ROOT / "tests")]  # cell_helpers, its tiny_design
    from bladecell_ros.bringup.graph import cell_environment
    from cell_helpers import BASE_PARAMS, FAMILY, deploy_model, design_tiny_model, merge, write_params

    from database import migrate
    from database.engine import create_db_engine, make_session_factory
    from database.orm import Role
    from database.services import accounts, catalog

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        home = tmp_path / "home"
        home.mkdir()
        os.environ["BLADECELL_HOME"] = str(home)
        url = f"sqlite:///{home / 'bladecell.sqlite3'}"
        os.environ["BLADECELL_DATABASE_URL"] = url
        os.environ.update({k: v for k, v in cell_environment().items() if k.startswith(("ROS_", "FASTDDS_"))})
        migrate.upgrade(url)
        print("designing the tiny model (as the ROS tests do)...", flush=True)
        deploy_model(design_tiny_model(tmp_path / "tiny"))
        engine = create_db_engine(url)
        with make_session_factory(engine)() as session:
            user = accounts.create_user(session, "bench", Role.TECHNICIAN)
            _, key = accounts.create_api_key(session, user, "bench")
            catalog.create_blade(session, "SN-LAG-1", FAMILY)
            session.commit()
        engine.dispose()
        params = write_params(
            tmp_path / "params.yaml",
            merge(BASE_PARAMS, {"sim_cell": {"timing": "realtime", "speed": 1.0},
                                "cell_coordinator": {"max_viewpoints": args.viewpoints}}),
        )  # fmt: skip
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        log = (tmp_path / "up.log").open("w")
        up = subprocess.Popen(
            [sys.executable, "-m", "bladecell_ros.cli", "up", "--sim", "--params", str(params),
             "--log-dir", str(tmp_path / "logs"), "--serve", str(port)],
            env=cell_environment(), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 300
            while True:
                if up.poll() is not None or time.monotonic() > deadline:
                    print((tmp_path / "up.log").read_text()[-3000:])
                    raise SystemExit("the cell did not come up")
                try:
                    if httpx.get(f"{base}/api/v1/cell", headers={"X-API-Key": key}, timeout=5).json()[
                        "linked"
                    ]:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            from bladecell_ros.transport.client import CellClient

            seen: dict[tuple[str, int], float] = {}
            with CellClient() as client, sync_playwright() as p:
                client.on_status(lambda s: seen.setdefault((s.state, s.viewpoint_index), time.time()))
                client.wait_for_coordinator(180)
                browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
                page = browser.new_context(bypass_csp=True).new_page()
                page.goto(f"{base}/ui/station.html")
                page.fill("#api-key", key)
                page.click("#sign-in")
                page.locator("#stream-state", has_text="events: live").wait_for(timeout=60_000)
                page.select_option("#family", FAMILY)
                page.fill("#serial", "SN-LAG-1")
                page.press("#serial", "Enter")
                page.wait_for_function("window.__station.events.some(e => e.kind === 'end')", timeout=900_000)
                events = page.evaluate(
                    "window.__station.events.map(e => [e.kind, e.state, e.viewpoint_index, e.received_at])"
                )
                browser.close()
            lags = [
                r / 1000 - seen[(st, k)] for kind, st, k, r in events if kind != "end" and (st, k) in seen
            ]
            p50, p95, worst = (1000 * statistics.median(lags), 1000 * pct(lags, 0.95), 1000 * max(lags))
            print(f"progress lag behind the running cell over {len(lags)} events: p50 {p50:.0f} ms, "
                  f"p95 {p95:.0f} ms, max {worst:.0f} ms (target < 1000 ms)")  # fmt: skip
            print(yaml.safe_dump({"events": [e[:3] for e in events]}, default_flow_style=True)[:400])
            return 0 if worst < 1000 else 1
        finally:
            up.send_signal(__import__("signal").SIGINT)
            try:
                up.wait(120)
            except subprocess.TimeoutExpired:
                up.kill()


if __name__ == "__main__":
    raise SystemExit(main())
