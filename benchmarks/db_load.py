"""Concurrent clients against the records API: latency percentiles, busy answers and errors under load.

Used by db_search.py (its `--clients` option) and by tests/database/test_db_load.py: N clients, each
its own HTTP connection in its own thread, released together by a barrier, each sending `requests`
requests of one kind back to back (a closed loop: a client sends its next request when the previous
one is answered, so at saturation latency ~= N / throughput).

Each kind is a per-client script (a generator that yields requests and is sent back the answers), so a
search client reads on through `next_cursor` as an engineer paging through results would.

What counts as what:
- a 200 is timed; the percentiles are over the 200 answers only;
- a 503 is "busy": the service refused at capacity (CSV exports beyond the export slots, or no free
  pooled connection), nothing was done and the client may retry; counted apart, never an error;
- anything else (another status, a reset, a timeout) is an error. Errors are counted, never raised,
  so a run under overload still reports what happened.

CPU per request (server process, PostgreSQL backends of the database, client threads) is read from
the OS around each run, to show which of them a saturated 2-core host is spending its time on.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import httpx
import numpy as np
import psutil
import psycopg
from db_bulk_load import CELLS, CLASSES, END, FAMILIES, SPAN_DAYS
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

# A client's script: yields (path, query parameters), is sent the answer (None after a transport error).
Script = Generator[tuple[str, dict], httpx.Response | None, None]
SEARCH = "filtered search"
DETAIL = "defect detail"
EXPORT = "CSV export"
TARGET_MS = 100.0  # p95 of the filtered search at the largest client count
MIN_SAMPLES = 100  # per kind and N: one client sends at least this many (a p99 of 20 is the maximum)


def _window(rng: random.Random, days: int) -> dict:
    start = END - timedelta(days=rng.randrange(days, SPAN_DAYS + 1))
    return {"detected_from": start.isoformat(), "detected_to": (start + timedelta(days=days)).isoformat()}


def search_params(rng: random.Random) -> dict:
    """One engineer's search: family + class(es) + a date range, often a confidence floor, sometimes a
    review status, a cell or another sort order; a page of 50 (sometimes 100)."""
    params: dict = {
        "part_family": rng.choice(FAMILIES),
        "defect_class": rng.sample(list(CLASSES), rng.choice((1, 1, 1, 2))),
        **_window(rng, rng.choice((7, 30, 30, 90))),
        "limit": rng.choice((50, 50, 50, 100)),
    }
    if rng.random() < 0.5:
        params["min_confidence"] = rng.choice((0.5, 0.7, 0.8, 0.9))
    if rng.random() < 0.3:
        params["review_status"] = rng.choice(("unreviewed", "confirmed", "false_positive"))
    if rng.random() < 0.15:
        params["cell"] = str(rng.choice(list(CELLS)))
    if rng.random() < 0.15:
        params["sort"] = rng.choice(("-confidence", "-area_mm2"))
    return params


def search_script(rng: random.Random, defects: int) -> Script:
    """New searches, each read on for 0-3 further pages through its next_cursor."""
    while True:
        params = search_params(rng)
        answer = yield "/api/v1/defects", params
        for _ in range(rng.choice((0, 0, 1, 2, 3))):
            ok = answer is not None and answer.status_code == 200
            cursor = answer.json().get("next_cursor") if ok else None
            if cursor is None:
                break
            answer = yield "/api/v1/defects", {**params, "cursor": cursor}


def detail_script(rng: random.Random, defects: int) -> Script:
    while True:
        yield f"/api/v1/defects/{rng.randrange(1, defects + 1)}", {}


def export_script(rng: random.Random, defects: int) -> Script:
    """Family + class over 7-30 days: a few hundred to a few thousand rows at 1 M defects."""
    while True:
        yield (
            "/api/v1/defects/export.csv",
            {
                "part_family": rng.choice(FAMILIES),
                "defect_class": str(rng.choice(list(CLASSES))),
                **_window(rng, rng.choice((7, 30))),
            },
        )


KINDS: dict[str, Callable[[random.Random, int], Script]] = {
    SEARCH: search_script,
    DETAIL: detail_script,
    EXPORT: export_script,
}


@dataclass
class CpuMeter:
    """CPU seconds used by the server process, the database's PostgreSQL backends and this process."""

    server_pid: int | None = None
    pg_url: str | None = None

    def _backends(self) -> list[int]:
        if self.pg_url is None:
            return []
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        return [pid for (pid,) in rows]

    @staticmethod
    def _cpu(pid: int) -> float:
        try:
            t = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return 0.0
        return t.user + t.system

    def snapshot(self) -> dict[str, float | dict[int, float]]:
        own = os.times()
        return {
            "server": self._cpu(self.server_pid) if self.server_pid else float("nan"),
            "postgres": {pid: self._cpu(pid) for pid in self._backends()},
            "clients": own.user + own.system,
        }

    @staticmethod
    def used(before: dict, after: dict) -> dict[str, float]:
        """Seconds between two snapshots (a backend opened during the run counts from zero)."""
        pg_before, pg_after = before["postgres"], after["postgres"]
        return {
            "server": after["server"] - before["server"],
            "postgres": sum(t - pg_before.get(pid, 0.0) for pid, t in pg_after.items()),
            "clients": after["clients"] - before["clients"],
        }


def run_clients(
    base: str,
    key: str,
    clients: int,
    requests: int,
    script: Callable[[random.Random, int], Script],
    defects: int,
    seed: int = 0,
    timeout_s: float = 60,
    meter: CpuMeter | None = None,
) -> dict:
    """p50/p95/p99 latency (ms) of the 200 answers of every client, 503s, errors by kind, throughput."""
    barrier = threading.Barrier(clients)

    def client_loop(index: int) -> tuple[list[float], int, Counter]:
        latencies: list[float] = []
        busy = 0
        errors: Counter = Counter()
        steps = script(random.Random(f"{seed}/{index}"), defects)
        path, params = next(steps)
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=timeout_s) as client:
            barrier.wait(timeout=timeout_s)
            for _ in range(requests):
                answer: httpx.Response | None = None
                t0 = time.perf_counter()
                try:
                    answer = client.get(path, params=params)
                    answer.read()
                    elapsed = (time.perf_counter() - t0) * 1000
                    if answer.status_code == 200:
                        latencies.append(elapsed)
                    elif answer.status_code == 503:
                        busy += 1
                    else:
                        errors[str(answer.status_code)] += 1
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                path, params = steps.send(answer)
        return latencies, busy, errors

    load_average = os.getloadavg()[0]
    before = meter.snapshot() if meter else None
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client_loop, range(clients)))
    wall = time.perf_counter() - t0
    cpu = CpuMeter.used(before, meter.snapshot()) if meter else {}
    latencies = np.asarray([ms for lat, _, _ in results for ms in lat])
    errors: Counter = sum((e for _, _, e in results), Counter())
    answered = clients * requests

    def pct(q: float) -> float:
        return float(np.percentile(latencies, q)) if latencies.size else float("nan")

    return {
        "clients": clients,
        "requests": answered,
        "ok": int(latencies.size),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "busy_503": sum(b for _, b, _ in results),
        "errors": int(sum(errors.values())),
        "error_kinds": dict(errors),
        "requests_per_s": answered / wall,
        "load_average_at_start": load_average,
        "cpu_ms_per_request": {part: 1000 * s / answered for part, s in cpu.items()},
    }


def host_line() -> str:
    load1, load5, _ = os.getloadavg()
    return (
        f"host: {os.cpu_count()} CPU cores shared with other work (load average {load1:.1f}/{load5:.1f} "
        "at start); the client threads run in this process and share those cores with the server "
        "(one uvicorn process) and PostgreSQL"
    )


def load_figure(
    console: Console,
    base: str,
    key: str,
    counts: list[int],
    requests: int,
    defects: int,
    pool_size: int,
    seed: int = 0,
    meter: CpuMeter | None = None,
    title: str = "",
    min_samples: int = MIN_SAMPLES,
    kinds: tuple[str, ...] = tuple(KINDS),
) -> dict:
    """N concurrent clients per request kind; a table of p50/p95/p99, 503s, errors and CPU/request."""
    console.print(host_line())
    table = Table(
        "kind",
        "N",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "503 busy",
        "errors",
        "req/s",
        "CPU ms/req srv+pg+cli",
        title=f"{title}N concurrent clients, {requests} requests each (>= {min_samples} a row), server pool "
        f"{pool_size}; percentiles of the 200s",
    )
    figure: dict = {"host": host_line(), "runs": {}}
    for label in kinds:
        for clients in tqdm(counts, desc=label, leave=False):
            each = max(requests, -(-min_samples // clients))
            result = run_clients(base, key, clients, each, KINDS[label], defects, seed, meter=meter)
            figure["runs"][f"{label} x{clients}"] = {"kind": label, **result}
            errors = str(result["errors"]) + (f" {result['error_kinds']}" if result["errors"] else "")
            cpu = result["cpu_ms_per_request"]
            table.add_row(
                label,
                str(clients),
                f"{result['p50_ms']:.1f}",
                f"{result['p95_ms']:.1f}",
                f"{result['p99_ms']:.1f}",
                str(result["busy_503"]),
                errors,
                f"{result['requests_per_s']:.0f}",
                "+".join(f"{cpu[p]:.1f}" for p in ("server", "postgres", "clients")) if cpu else "-",
            )
    console.print(table)
    if SEARCH not in kinds:
        return figure
    top = figure["runs"][f"{SEARCH} x{max(counts)}"]
    figure["target_met"] = top["p95_ms"] < TARGET_MS and top["errors"] == 0
    console.print(
        f"target p95 < {TARGET_MS:.0f} ms, {SEARCH} at {max(counts)} clients: {top['p95_ms']:.1f} ms "
        f"[{'green]met' if figure['target_met'] else 'red]missed'}[/]"
    )
    return figure


def search_cpu_breakdown(url: str, key: str, searches: int = 200, seed: int = 0) -> dict[str, float]:
    """CPU ms per filtered search of the load mix, run in this process without HTTP, by stage: session
    and API-key check, the search service (query build, PostgreSQL round trips, ORM rows, response
    model), the JSON body. What the server process spends beyond their sum goes to HTTP, routing,
    parameter validation and thread hand-offs (compare with the load figure's server CPU/request)."""
    from database.api.schemas.defects import DefectSearchParams
    from database.engine import create_db_engine, make_session_factory
    from database.services import defects as defect_service
    from database.services.accounts import authenticate_key

    engine = create_db_engine(url)
    factory = make_session_factory(engine)
    rng = random.Random(seed)
    totals = dict.fromkeys(("session + API key", "search service", "JSON body"), 0.0)
    try:
        for i in range(searches + 20):  # the first 20 warm the caches and the pool
            params = search_params(rng)
            params["review_status"] = [params["review_status"]] if "review_status" in params else []
            t0 = time.process_time()
            with factory() as session:
                authenticate_key(session, key)
                t1 = time.process_time()
                query = DefectSearchParams(**params)
                page = defect_service.search(
                    session, query.to_filter(), query.sort_spec(), query.limit, None, False
                )
                t2 = time.process_time()
            page.model_dump_json()
            t3 = time.process_time()
            if i >= 20:
                for stage, seconds in zip(totals, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                    totals[stage] += seconds
    finally:
        engine.dispose()
    return {stage: 1000 * seconds / searches for stage, seconds in totals.items()}
