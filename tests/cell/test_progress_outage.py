"""Issue 16: the station's progress rows and the blade model survive a short records-database outage.

Before, the feed's writer dropped every event that met the outage (the live view simply missed them)
and the blade model of a family whose first cycle started during one was not registered. Now the
writer waits the outage out with the cell's `OutageGuard` while later events queue behind it (bounded),
and the blade model's save is retried off the cycle's thread. The outages are real: the SQLite file's
write lock held by another connection, the PostgreSQL test database refusing connections (`PgOutage`).
Nothing sleeps a fixed time: an outage ends once the writer has failed `FAILED_ATTEMPTS` times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bladecell_ros.services.db_outage import OutageGuard
from bladecell_ros.services.progress_feed import ProgressFeed
from pg_outage import PgOutage, SqliteLock

from database.errors import DatabaseUnavailableError
from platform_control.cycle.acceptance import AcceptanceRules

EVENTS = 20
#: failed writes before the outage ends: 0.5 + 1 + 1 + 1 s of back-off between them, a 3.5-5 s outage
FAILED_ATTEMPTS = 5
GUARD = OutageGuard(30.0, initial_s=0.5, max_delay_s=1.0)


class CountingLog:
    """The real `ProgressLog` (or a fake), counting the appends that failed."""

    def __init__(self, log) -> None:
        self.log = log
        self.failed = 0
        self.lock = threading.Lock()

    def append(self, event) -> int:
        try:
            return self.log.append(event)
        except Exception:
            with self.lock:
                self.failed += 1
            raise


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _through_outage(feed: ProgressFeed, log: CountingLog, outage) -> tuple[float, float]:
    """Take the database away, hand in EVENTS events, give it back after FAILED_ATTEMPTS failed writes;
    returns (the outage's length, the longest time one hand-in took) in seconds."""
    feed.on_cell("reset", False, "before")
    feed.flush()
    outage.take_away()
    start = time.monotonic()
    longest = 0.0
    for i in range(EVENTS):
        t0 = time.monotonic()
        feed.on_cell("estop", i % 2 == 0, f"during {i}")
        longest = max(longest, time.monotonic() - t0)
    _wait_for(lambda: log.failed >= FAILED_ATTEMPTS, f"{FAILED_ATTEMPTS} failed writes")
    outage.give_back()
    length = time.monotonic() - start
    feed.on_cell("reset", False, "after")
    feed.flush()
    return length, longest


def _messages(url: str) -> list[str]:
    from database.engine import create_db_engine, make_session_factory
    from database.services.progress import events_after

    engine = create_db_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return [row.message for row in events_after(session, 0, limit=1000)]
    finally:
        engine.dispose()


EXPECTED = ["before", *(f"during {i}" for i in range(EVENTS)), "after"]


class FlakyLog:
    """A log that is down while `down` is set (the error `unit_of_work` raises, nothing written)."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.events: list = []

    def append(self, event) -> int:
        if self.down.is_set():
            raise DatabaseUnavailableError("database unavailable, nothing was written: refused")
        self.events.append(event)
        return len(self.events)

    def take_away(self) -> None:
        self.down.set()

    def give_back(self) -> None:
        self.down.clear()


def test_events_during_an_outage_are_written_afterwards_in_order_each_once(tmp_path: Path) -> None:
    flaky = FlakyLog()
    log = CountingLog(flaky)
    feed = ProgressFeed(log, "cell-1", tmp_path, AcceptanceRules(), guard=GUARD)
    length, longest = _through_outage(feed, log, flaky)
    feed.close()
    assert [e.message for e in flaky.events] == EXPECTED
    assert feed.dropped == 0 and length >= 3.0
    assert longest < 0.05  # the cycle's thread hands in and goes on


def test_the_backlog_is_bounded_and_what_it_kept_is_written_in_order(tmp_path: Path) -> None:
    flaky = FlakyLog()
    log = CountingLog(flaky)
    feed = ProgressFeed(log, "cell-1", tmp_path, AcceptanceRules(), guard=GUARD, max_backlog=5)
    flaky.take_away()
    for i in range(12):
        feed.on_cell("estop", True, f"e{i}")
        if i == 0:
            _wait_for(lambda: log.failed >= 1, "the writer to meet the outage")  # e0 is being written
    flaky.give_back()
    feed.flush()
    feed.close()
    # e0 waits in the writer, e1-e5 in the backlog; e6-e11 found it full
    assert [e.message for e in flaky.events] == [f"e{i}" for i in range(6)]
    assert feed.dropped == 6


def test_past_the_tolerance_an_event_is_dropped_and_later_ones_are_tried_once(tmp_path: Path) -> None:
    flaky = FlakyLog()
    log = CountingLog(flaky)
    short = OutageGuard(0.3, initial_s=0.1, max_delay_s=0.1)
    feed = ProgressFeed(log, "cell-1", tmp_path, AcceptanceRules(), guard=short)
    flaky.take_away()
    feed.on_cell("estop", True, "lost 1")
    feed.flush()  # waited the tolerance out, then dropped
    attempts = log.failed
    feed.on_cell("estop", True, "lost 2")
    feed.flush()
    assert log.failed == attempts + 1  # one try: the backlog is not held up a second time
    flaky.give_back()
    feed.on_cell("reset", False, "back")
    feed.flush()
    feed.close()
    assert [e.message for e in flaky.events] == ["back"] and feed.dropped == 2
    assert attempts >= 3


def test_sqlite_write_lock_progress_rows_are_all_there_afterwards(home: Path, monkeypatch) -> None:
    import database.engine
    from database.services.progress import ProgressLog

    monkeypatch.setattr(database.engine, "SQLITE_BUSY_TIMEOUT_MS", 100)  # SQLite's own wait, shortened
    url = f"sqlite:///{home / 'bladecell.sqlite3'}"
    log = CountingLog(ProgressLog(url))
    feed = ProgressFeed(log, "cell-1", home, AcceptanceRules(), guard=GUARD)
    lock = SqliteLock(home / "bladecell.sqlite3")
    try:
        length, longest = _through_outage(feed, log, lock)
    finally:
        lock.close()
        feed.close()
    assert _messages(url) == EXPECTED and feed.dropped == 0
    assert length >= 3.0 and longest < 0.05


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[str, PgOutage]]:
    from database import migrate

    migrate.upgrade(postgres_url)
    outage = PgOutage(postgres_url)
    yield postgres_url, outage
    outage.close()


def test_postgres_outage_progress_rows_are_all_there_afterwards(home: Path, pg) -> None:
    from database.services.progress import ProgressLog

    url, outage = pg
    log = CountingLog(ProgressLog(url))
    feed = ProgressFeed(log, "cell-1", home, AcceptanceRules(), guard=GUARD)
    try:
        length, longest = _through_outage(feed, log, outage)
    finally:
        feed.close()
    assert _messages(url) == EXPECTED and feed.dropped == 0
    assert length >= 3.0 and longest < 0.05


def test_the_blade_model_met_by_an_outage_is_registered_once_the_database_is_back(home: Path) -> None:
    from bladecell_ros.services.blade_models import BladeModelPublisher

    saved: list[str] = []
    down = threading.Event()
    down.set()

    class Store:
        def save(self, family, vertices, faces, **_kwargs) -> None:
            if down.is_set():
                raise DatabaseUnavailableError("database unavailable, nothing was written: refused")
            saved.append(family)

    class Catalog:  # what the publisher reads of the part-family catalog
        camera = type("Cam", (), {"width_px": 640, "height_px": 480, "focal_length_px": 800.0,
                                  "working_distance": 0.2})()  # fmt: skip

        def blade_model(self, _family):
            import numpy as np

            mesh = type("Mesh", (), {"vertices": np.eye(3), "faces": np.array([[0, 1, 2]])})()
            return type("Model", (), {"mesh": None, "preset": "small", "seed": 3, "load": lambda s: mesh})()

        def scan_axes(self, _family):
            return []

    publisher = BladeModelPublisher(
        Catalog(), Store(), guard=OutageGuard(30.0, initial_s=0.05, max_delay_s=0.1)
    )
    t0 = time.monotonic()
    assert publisher.ensure("HPT1") is False  # met the outage: one attempt, then on in the background
    assert time.monotonic() - t0 < 0.5
    assert publisher.ensure("HPT1") is False and saved == []  # the retry is under way, no second one
    down.clear()
    publisher.wait(30.0)
    assert saved == ["HPT1"] and publisher.ensure("HPT1") is True
    publisher.close()
