"""Defect search at plant scale: 1,000,000 defects over 50,000 blades in PostgreSQL, searched through the API.

What it does, in a database of its own (created here, dropped at the end unless --keep):
1. migrates an empty database with Alembic, then bulk-loads part families, models, blades, cycles,
   captures and defects with COPY (psycopg), secondary defect indexes dropped during the load and
   rebuilt after it, then ANALYZE;
2. starts the real service (`python -m database.cli serve`) in a child process and times the main
   searches over HTTP with httpx (randomised parameters per request, warm-up excluded);
3. prints p50/p95 per scenario and EXPLAIN (ANALYZE, BUFFERS) of the main queries;
4. runs N concurrent clients (`--clients 1,8,32`) for a filtered search (read on through its cursor), a
   defect detail and a CSV export, and prints p50/p95/p99, 503s (busy) and errors per N (db_load.py);
   `--before-after` first runs the filtered search at each N without revision 0007's indexes, then
   with them, back to back, and prints both side by side.

    .venv/bin/python benchmarks/db_search.py                  # full size (~10 minutes on 2 cores)
    .venv/bin/python benchmarks/db_search.py --defects 100000 --blades 5000 --requests 50   # quick
    .venv/bin/python benchmarks/db_search.py --defects 20000 --blades 1000 --requests 20 \
        --clients 1,8 --load-requests 10 --no-explain           # smoke run of the load figure (<1 min)
    .venv/bin/python benchmarks/db_search.py --keep ...        # keep the loaded database, then reuse it:
    .venv/bin/python benchmarks/db_search.py --database bladecell_bench_... --no-scenarios --before-after

Targets: p95 < 100 ms for a filtered, paginated search; alone, and at 32 concurrent clients.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from db_bulk_load import CELLS, CLASSES, END, FAMILIES, SPAN_DAYS, load  # noqa: E402
from db_load import SEARCH, CpuMeter, load_figure, search_cpu_breakdown  # noqa: E402

from database import migrate  # noqa: E402
from database.engine import create_db_engine, make_session_factory  # noqa: E402
from database.orm import Base  # noqa: E402
from database.orm.defects import FAMILY_SORT_INDEXES  # noqa: E402
from database.services import accounts  # noqa: E402
from database.services.defect_search import (  # noqa: E402
    DefectFilter,
    SortSpec,
    count_query,
    encode_cursor,
    page_query,
)
from database.services.statistics import weekly_query  # noqa: E402

console = Console(width=170)  # the tables are wide; a log file is not a terminal


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BLADECELL_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--defects", type=int, default=1_000_000)
    parser.add_argument("--blades", type=int, default=50_000)
    parser.add_argument("--cycles-per-blade", type=float, default=2.0)
    parser.add_argument("--captures-per-cycle", type=int, default=4)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--database",
        help="reuse a database an earlier --keep run loaded (its sizes must match --defects/--blades); kept",
    )
    parser.add_argument(
        "--no-scenarios", action="store_true", help="skip the single-client search table (load figure only)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--clients", default="1,8,32", help="concurrent client counts for the load figure ('' skips it)"
    )
    parser.add_argument("--load-requests", type=int, default=50, help="requests per client and kind")
    parser.add_argument("--pool-size", type=int, default=10, help="the server's database pool size")
    parser.add_argument("--no-explain", action="store_true", help="skip the EXPLAIN plans")
    parser.add_argument(
        "--before-after",
        action="store_true",
        help="filtered search at each N without revision 0007's indexes, then with them (side by side)",
    )
    return parser.parse_args()


# ---------------------------------------------------------------- timing through the API
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(url: str, home: Path, pool_size: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "BLADECELL_DATABASE_URL": url,
        "BLADECELL_HOME": str(home),
        "BLADECELL_POOL_SIZE": str(pool_size),
    }
    home.mkdir(parents=True, exist_ok=True)
    log = (
        home / "server.log"
    )  # a file, not a pipe: an unread pipe fills with access lines and blocks the server
    server = subprocess.Popen(
        [sys.executable, "-m", "database.cli", "serve", "--no-migrate", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the API server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.kill()
    raise RuntimeError("the API server did not become healthy within 60 s")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def scenarios(rng: random.Random, n_blades: int) -> dict[str, Callable[[], dict]]:
    def window(days: int) -> dict:
        start = END - timedelta(days=rng.randrange(days, SPAN_DAYS))
        return {"detected_from": start.isoformat(), "detected_to": (start + timedelta(days=days)).isoformat()}

    def family() -> str:
        return rng.choice(FAMILIES)

    def cls() -> str:
        return str(rng.choice(list(CLASSES)))

    return {
        "newest 50 (no filter)": lambda: {},
        "family+class+30 days, 50/page": lambda: {
            "part_family": family(),
            "defect_class": cls(),
            **window(30),
        },
        "family+class+conf>=0.8+area, by size": lambda: {
            "part_family": family(),
            "defect_class": cls(),
            "min_confidence": 0.8,
            "min_area_mm2": 0.5,
            "max_area_mm2": 20,
            "sort": "-area_mm2",
        },
        "one blade (serial)": lambda: {"blade_serial": f"SN-{rng.randrange(1, n_blades + 1):07d}"},
        "cell+unreviewed+7 days": lambda: {
            "cell": rng.choice(list(CELLS)),
            "review_status": "unreviewed",
            **window(7),
        },
        "model version + class": lambda: {
            "model_version": f"{family().lower()}-v{rng.randrange(1, 4)}",
            "defect_class": cls(),
        },
        "false positives, 90 days": lambda: {"review_status": "false_positive", **window(90)},
        "family+class+30 days + total count": lambda: {
            "part_family": family(),
            "defect_class": cls(),
            "include_total": True,
            **window(30),
        },
    }


def time_requests(
    client: httpx.Client, path: str | Callable[[], str], make: Callable[[], dict], n: int, warmup: int = 5
) -> dict:
    times, rows = [], []
    for i in range(n + warmup):
        params = make()
        if callable(path):
            path = path()
        t0 = time.perf_counter()
        response = client.get(path, params=params)
        elapsed = (time.perf_counter() - t0) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path} {params}: {response.status_code} {response.text[:300]}")
        if i >= warmup:
            times.append(elapsed)
            body = response.json() if "json" in response.headers.get("content-type", "") else None
            rows.append(len(body["items"]) if isinstance(body, dict) and "items" in body else 0)
    return {
        "p50_ms": percentile(times, 50),
        "p95_ms": percentile(times, 95),
        "mean_ms": statistics.fmean(times),
        "max_ms": max(times),
        "n": n,
        "mean_rows": statistics.fmean(rows),
    }


def time_deep_pages(client: httpx.Client, rng: random.Random, pages: int, walks: int) -> dict:
    """Follow next_cursor `pages` deep through a filtered search; time every page after the first."""
    times = []
    for _ in range(walks):
        params = {"part_family": rng.choice(FAMILIES), "limit": 50}
        cursor = None
        for page in range(pages):
            t0 = time.perf_counter()
            body = client.get(
                "/api/v1/defects", params={**params, **({"cursor": cursor} if cursor else {})}
            ).json()
            if page:
                times.append((time.perf_counter() - t0) * 1000)
            cursor = body["next_cursor"]
    return {
        "p50_ms": percentile(times, 50),
        "p95_ms": percentile(times, 95),
        "mean_ms": statistics.fmean(times),
        "max_ms": max(times),
        "n": len(times),
        "mean_rows": 50.0,
    }


def explain(url: str, console_out: Console, n_blades: int) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements the service runs for the main searches."""
    engine = create_db_engine(url)
    factory = make_session_factory(engine)
    month = {"detected_from": END - timedelta(days=60), "detected_to": END - timedelta(days=30)}
    newest = SortSpec.parse("-detected_at")
    with factory() as session:
        deep_cursor = encode_cursor(newest, END - timedelta(days=200), 10**9)
        cases = {
            "family+class+30 days (page)": page_query(
                session, DefectFilter(part_family="HPT1-B", defect_class=("crack",), **month), newest, 50
            ),
            "family+class+30 days (count)": count_query(
                session, DefectFilter(part_family="HPT1-B", defect_class=("crack",), **month)
            ),
            "family+class+conf+area by size (page)": page_query(
                session,
                DefectFilter(
                    part_family="LPT3-A",
                    defect_class=("pit",),
                    min_confidence=0.8,
                    min_area_mm2=0.5,
                    max_area_mm2=20,
                ),
                SortSpec.parse("-area_mm2"),
                50,
            ),
            "family+class+30 days by size (page)": page_query(
                session,
                DefectFilter(part_family="LPT3-A", defect_class=("corrosion",), **month),
                SortSpec.parse("-area_mm2"),
                50,
            ),
            "family+2 classes+30 days by confidence (page)": page_query(
                session,
                DefectFilter(part_family="HPT1-B", defect_class=("nick", "burn"), **month),
                SortSpec.parse("-confidence"),
                50,
            ),
            "one blade (page)": page_query(
                session, DefectFilter(blade_serial=f"SN-{min(1234, n_blades):07d}"), newest, 50
            ),
            "model version + class (page)": page_query(
                session, DefectFilter(model_version="hpt1-b-v1", defect_class=("crack",)), newest, 50
            ),
            "family, keyset page 200 days back": page_query(
                session, DefectFilter(part_family="HPT1-B"), newest, 50, deep_cursor
            ),
            "weekly statistics, one family, 12 weeks": weekly_query(
                session, DefectFilter(part_family="HPT1-B", detected_from=END - timedelta(weeks=12)), 12
            ),
        }
    plans = {}
    with engine.connect() as conn:
        for name, query in cases.items():
            if query is None:  # a named blade/family/model is not in this (smaller) data set
                continue
            compiled = query.compile(
                dialect=postgresql.dialect(), compile_kwargs={"render_postcompile": True}
            )
            params = {k: (v.value if hasattr(v, "value") else v) for k, v in compiled.params.items()}
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), params).scalars().all()
            plans[name] = "\n".join(plan)
            console_out.rule(f"EXPLAIN {name}")
            console_out.print("\n".join(plan), highlight=False, soft_wrap=True)
    engine.dispose()
    return plans


def set_sort_indexes(conn: psycopg.Connection, present: bool) -> None:
    """Drop (before) or build (after) revision 0007's indexes, as the ORM defines them, then ANALYZE."""
    table = Base.metadata.tables["defects"]
    for ix in (ix for ix in table.indexes if ix.name in FAMILY_SORT_INDEXES):
        if present:
            conn.execute(str(CreateIndex(ix, if_not_exists=True).compile(dialect=postgresql.dialect())))
        else:
            conn.execute(f"DROP INDEX IF EXISTS {ix.name}")
    conn.execute("ANALYZE defects")


def compare_table(before: dict, after: dict) -> None:
    """Each N side by side: without revision 0007's indexes, then with them, run back to back."""
    table = Table(
        "kind",
        "N",
        "p50 before/after",
        "p95 before/after",
        "p99 before/after",
        "errors b/a",
        "req/s b/a",
        "PG CPU ms/req b/a",
        "host load b/a",
        title="revision 0007 (family sort indexes): same run, server and seeds, back to back per N; ms",
    )
    for label, b in before["runs"].items():
        a = after["runs"][label]
        pg = (b["cpu_ms_per_request"].get("postgres"), a["cpu_ms_per_request"].get("postgres"))
        table.add_row(
            b["kind"],
            str(b["clients"]),
            *(f"{b[q]:.1f} / {a[q]:.1f}" for q in ("p50_ms", "p95_ms", "p99_ms")),
            f"{b['errors']} / {a['errors']}",
            f"{b['requests_per_s']:.0f} / {a['requests_per_s']:.0f}",
            f"{pg[0]:.1f} / {pg[1]:.1f}" if None not in pg else "-",
            f"{b['load_average_at_start']:.1f} / {a['load_average_at_start']:.1f}",
        )
    console.print(table)


def single_client_table(base: str, key: str, rng: random.Random, args: argparse.Namespace) -> dict:
    """One client, one request at a time: p50/p95 of each main search, detail, statistics and export."""
    timings = {}
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
        for label, make in tqdm(scenarios(rng, args.blades).items(), desc="search scenarios"):
            timings[label] = time_requests(client, "/api/v1/defects", make, args.requests)
        timings["keyset pages 2..20 (family)"] = time_deep_pages(client, rng, 20, max(3, args.requests // 40))
        timings["stats per week, 1 family, 12 weeks"] = time_requests(
            client,
            "/api/v1/stats/defects-per-week",
            lambda: {"part_family": rng.choice(FAMILIES)},
            max(10, args.requests // 10),
        )
        timings["defect detail"] = time_requests(
            client,
            lambda: f"/api/v1/defects/{rng.randrange(1, args.defects)}",
            dict,
            max(10, args.requests // 4),
        )
        timings["CSV export, family+class+30 days"] = time_requests(
            client,
            "/api/v1/defects/export.csv",
            lambda: {
                "part_family": rng.choice(FAMILIES),
                "defect_class": "crack",
                "detected_from": (END - timedelta(days=30)).isoformat(),
            },
            max(5, args.requests // 20),
        )
    table = Table(
        "scenario (HTTP, PostgreSQL 15)",
        "p50 ms",
        "p95 ms",
        "mean ms",
        "max ms",
        "n",
        "rows/page",
        title=f"{args.defects:,} defects / {args.blades:,} blades, one client",
    )
    for label, t in timings.items():
        table.add_row(
            label,
            f"{t['p50_ms']:.1f}",
            f"{t['p95_ms']:.1f}",
            f"{t['mean_ms']:.1f}",
            f"{t['max_ms']:.1f}",
            str(t["n"]),
            f"{t['mean_rows']:.0f}",
        )
    console.print(table)
    return timings


def main() -> None:
    args = parse_args()
    rng_np, rng = np.random.default_rng(args.seed), random.Random(args.seed)
    name = args.database or f"bladecell_bench_{uuid.uuid4().hex[:10]}"
    keep = args.keep or args.database is not None
    admin = psycopg.connect(args.admin_url, autocommit=True)
    if not args.database:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = args.admin_url.rsplit("/", 1)[0] + f"/{name}"
    console.print(
        f"benchmark database [bold]{name}[/]  (machine: {os.cpu_count()} CPUs, shared with other work)"
    )
    results: dict = {"database": name, "args": {k: str(v) for k, v in vars(args).items()}}
    server = None
    try:
        if args.database:
            with psycopg.connect(url) as conn:
                found = conn.execute("SELECT count(*), max(id) FROM defects").fetchone()
            if found != (args.defects, args.defects):
                raise SystemExit(f"{name} holds {found[0]} defects, not --defects {args.defects}")
            results["rows"] = {"defects": args.defects, "blades": args.blades, "reused": name}
            migrate.upgrade(url)  # a database kept before a newer revision gets its indexes now
        else:
            migrate.upgrade(url)
            t0 = time.perf_counter()
            with psycopg.connect(url, autocommit=True) as conn:
                results["rows"] = load(
                    conn, rng_np, args.blades, args.defects, args.cycles_per_blade, args.captures_per_cycle
                )
            results["load_s"] = round(time.perf_counter() - t0, 1)
        size = admin.execute(f"SELECT pg_size_pretty(pg_database_size('{name}'))").fetchone()[0]
        results["database_size"] = size
        console.print(f"{results['rows']} loaded in {results.get('load_s', '-')} s; database size {size}")

        engine = create_db_engine(url)
        with make_session_factory(engine)() as session:
            user = accounts.create_user(session, f"bench-{uuid.uuid4().hex[:6]}", "engineer")
            _, key = accounts.create_api_key(session, user)
            session.commit()
        engine.dispose()

        home = Path("/tmp") / name
        server, base = start_server("postgresql+psycopg://" + url.split("://", 1)[1], home, args.pool_size)
        if not args.no_scenarios:
            results["timings"] = single_client_table(base, key, rng, args)
        counts = [int(n) for n in args.clients.split(",") if n.strip()]
        if counts:
            figure = functools.partial(
                load_figure,
                console,
                base,
                key,
                requests=args.load_requests,
                defects=args.defects,
                pool_size=args.pool_size,
                seed=args.seed,
                meter=CpuMeter(server.pid, url),
            )
            if args.before_after:  # only the search's plans change; per N, so both halves see one host load
                before, after = {"runs": {}}, {"runs": {}}
                with psycopg.connect(url, autocommit=True) as conn:
                    for n in counts:
                        for present, half in ((False, before), (True, after)):
                            set_sort_indexes(conn, present)
                            label = "with" if present else "WITHOUT"
                            shown = figure(counts=[n], kinds=(SEARCH,), title=f"{label} revision 0007: ")
                            half["runs"].update(shown["runs"])
                results["load_0007"] = {"before": before, "after": after}
            results["load"] = figure(counts=counts, title=f"{args.defects:,} defects: ")
            if args.before_after:
                compare_table(before, after)
            results["search_cpu_ms"] = search_cpu_breakdown(
                "postgresql+psycopg://" + url.split("://", 1)[1], key
            )
            server_ms = results["load"]["runs"][f"{SEARCH} x{max(counts)}"]["cpu_ms_per_request"]["server"]
            console.print(
                "CPU ms per filtered search in-process, no HTTP: "
                + ", ".join(f"{stage} {ms:.1f}" for stage, ms in results["search_cpu_ms"].items())
                + f" (the server process spent {server_ms:.1f} per search over HTTP at {max(counts)} clients)"
            )
        if not args.no_explain:
            results["plans"] = explain(url, console, args.blades)
        if "timings" in results:
            target = results["timings"]["family+class+30 days, 50/page"]["p95_ms"]
            console.print(
                f"target p95 < 100 ms for a filtered, paginated search, one client: {target:.1f} ms "
                f"[{'green]met' if target < 100 else 'red]missed'}[/]"
            )
        if "load" in results:
            top = results["load"]["runs"][f"{SEARCH} x{max(counts)}"]
            console.print(
                f"target p95 < 100 ms for a filtered search at {max(counts)} concurrent clients: "
                f"{top['p95_ms']:.1f} ms [{'green]met' if results['load']['target_met'] else 'red]missed'}[/]"
            )
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if not keep:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            console.print(f"dropped {name}")
        admin.close()


if __name__ == "__main__":
    main()
