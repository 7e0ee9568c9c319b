"""The load figure of benchmarks/db_search.py at a tiny size: a real uvicorn serving the app on a
PostgreSQL database bulk-loaded by the benchmark's own loader, concurrent clients for every kind.

It checks the figure is complete and honest (every kind at every client count, each request either
timed or counted as busy or an error, no errors at this size), never how fast anything is: the
targets are measured by the benchmark itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from db_bulk_load import load
from db_load import DETAIL, EXPORT, KINDS, SEARCH, CpuMeter, load_figure, search_cpu_breakdown

pytestmark = pytest.mark.postgres
DEFECTS = 600


@pytest.fixture
def db_url(postgres_url: str) -> str:
    """PostgreSQL only: the benchmark's loader writes with COPY."""
    return postgres_url


@pytest.fixture
def loaded(engine, db_url: str) -> str:
    """The migrated database filled by the benchmark's bulk loader; its libpq URL."""
    url = db_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        load(conn, np.random.default_rng(1), n_blades=40, n_defects=DEFECTS)
    return url


def test_load_figure_reports_every_kind_and_count_without_errors(loaded, live_server, users, db_url) -> None:
    console = Console(record=True, width=200)
    figure = load_figure(
        console,
        live_server,
        users["eng"].key,
        counts=[1, 3],
        requests=4,
        defects=DEFECTS,
        pool_size=4,
        meter=CpuMeter(None, loaded),
        min_samples=0,
    )
    assert set(KINDS) == {SEARCH, DETAIL, EXPORT}
    assert set(figure["runs"]) == {f"{kind} x{n}" for kind in KINDS for n in (1, 3)}
    for label, run in figure["runs"].items():
        assert run["requests"] == run["clients"] * 4, label
        assert run["errors"] == 0, (label, run["error_kinds"])
        assert run["ok"] + run["busy_503"] == run["requests"], label
        if run["kind"] != EXPORT:  # only exports are limited by slots (a 503 is allowed there)
            assert run["busy_503"] == 0, label
        if run["ok"]:
            assert 0 < run["p50_ms"] <= run["p95_ms"] <= run["p99_ms"], label
    assert figure["runs"][f"{EXPORT} x1"]["ok"] == 4  # a lone client always has a free export slot
    text = console.export_text()
    assert "503 busy" in text and "target p95 < 100 ms" in text and "CPU cores" in text

    breakdown = search_cpu_breakdown(db_url, users["eng"].key, searches=5)
    assert list(breakdown) == ["session + API key", "search service", "JSON body"]
    assert all(ms > 0 for ms in breakdown.values()), breakdown
