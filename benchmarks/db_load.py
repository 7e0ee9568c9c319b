"""Concurrent clients against the records API: latency percentiles and errors under load.

Used by db_search.py (its `--clients` option): N clients, each its own HTTP connection in its own
thread, released together by a barrier, each sending `requests` requests of one kind back to back.
An error is any answer other than 200, or a transport failure (reset, timeout); errors are counted,
never raised, so a run under overload still reports what happened.

The clients share one Python process with each other (not with the server): at 32 clients on a small
machine part of each latency is the client side waiting for the GIL, so the figures are upper bounds.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import numpy as np
from db_bulk_load import CLASSES, END, FAMILIES, SPAN_DAYS
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

Request = Callable[[], tuple[str, dict]]  # -> (path, query parameters), drawn per request


def run_clients(
    base: str, key: str, clients: int, requests: int, make: Request, timeout_s: float = 60
) -> dict:
    """p50/p95/p99 latency (ms) over every request of every client, errors by kind, and throughput."""
    barrier = threading.Barrier(clients)

    def client_loop(_: int) -> tuple[list[float], Counter]:
        latencies: list[float] = []
        errors: Counter = Counter()
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=timeout_s) as client:
            barrier.wait(timeout=timeout_s)
            for _ in range(requests):
                path, params = make()
                t0 = time.perf_counter()
                try:
                    response = client.get(path, params=params)
                    response.read()
                    if response.status_code != 200:
                        errors[str(response.status_code)] += 1
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                latencies.append((time.perf_counter() - t0) * 1000)
        return latencies, errors

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client_loop, range(clients)))
    wall = time.perf_counter() - t0
    latencies = np.asarray([ms for lat, _ in results for ms in lat])
    errors: Counter = sum((e for _, e in results), Counter())
    return {
        "clients": clients,
        "n": int(latencies.size),
        "p50_ms": float(np.percentile(latencies, 50)),
        "p95_ms": float(np.percentile(latencies, 95)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "errors": int(sum(errors.values())),
        "error_kinds": dict(errors),
        "requests_per_s": latencies.size / wall,
    }


def load_figure(
    console: Console,
    base: str,
    key: str,
    rng: random.Random,
    counts: list[int],
    requests: int,
    defects: int,
    pool_size: int,
) -> dict:
    """N concurrent clients per request kind; a table of p50/p95/p99 and errors."""
    kinds = {
        "search family+class+30 days": lambda: (
            "/api/v1/defects",
            {
                "part_family": rng.choice(FAMILIES),
                "defect_class": str(rng.choice(list(CLASSES))),
                "detected_from": (END - timedelta(days=rng.randrange(30, SPAN_DAYS))).isoformat(),
            },
        ),
        "defect detail": lambda: (f"/api/v1/defects/{rng.randrange(1, defects)}", {}),
        "CSV export family+class+30 days": lambda: (
            "/api/v1/defects/export.csv",
            {
                "part_family": rng.choice(FAMILIES),
                "defect_class": "crack",
                "detected_from": (END - timedelta(days=30)).isoformat(),
            },
        ),
    }
    table = Table(
        "kind",
        "clients",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "req/s",
        title=f"concurrent clients ({requests} requests each, server pool {pool_size})",
    )
    figure: dict = {}
    for label, make in kinds.items():
        for clients in tqdm(counts, desc=label):
            result = run_clients(base, key, clients, requests, make)
            figure[f"{label} x{clients}"] = result
            errors = str(result["errors"]) + (f" {result['error_kinds']}" if result["errors"] else "")
            table.add_row(
                label,
                str(clients),
                f"{result['p50_ms']:.1f}",
                f"{result['p95_ms']:.1f}",
                f"{result['p99_ms']:.1f}",
                errors,
                f"{result['requests_per_s']:.0f}",
            )
    console.print(table)
    return figure
