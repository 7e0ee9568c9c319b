"""Issue 16: the records database goes away in mid-cycle (in-process cell, real database servers).

PostgreSQL: the test database stops accepting connections and its sessions are terminated, as the
fault campaign does (a server restart, the database host dropping off the network), at the moment the
cycle asks whether the family needs a design, while it registers a designed model, or when it records.
A short outage is waited out: the cycle completes, recorded once, nothing captured twice. An outage
longer than the tolerance FAULTs the cycle with one line naming the database; `resume` completes it.

SQLite: the file's write lock held by another process (a backup, a long API transaction) past the busy
timeout at recording. Reads of a WAL-mode file are never blocked by a writer, and a file that vanished
is recreated empty by SQLite (no tables: a set-up error, faulted at once, not an outage), so on SQLite
only the write lock is a meaningful outage.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bladecell_ros.services.db_outage import WAITING, OutageGuard
from local_cell import FAMILY, OracleCell, fake_design, make_context, make_world
from pg_outage import PgOutage, SqliteLock

from platform_control.cycle.records import CycleEvent
from platform_control.cycle.runner import CycleOutcome, CycleRunner, new_cycle_id
from platform_control.cycle.services import CycleJob

VIEWPOINTS = 3  # the scan_axes fixture (conftest) cuts the scan to 3 viewpoints
#: short waits so a test outage past the tolerance takes seconds
SHORT = {"initial_s": 0.2, "max_delay_s": 0.5}


@pytest.fixture
def pg(home: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[PgOutage]:
    """The cell's records on a fresh PostgreSQL database, and the switch that takes it away."""
    from database import migrate

    monkeypatch.setenv("BLADECELL_DATABASE_URL", postgres_url)
    migrate.upgrade(postgres_url)
    outage = PgOutage(postgres_url)
    yield outage
    outage.close()


class Cell:
    """An in-process cell whose runner's events can take the database away at a chosen moment and
    whose notify lines can bring it back once the cycle says it is waiting."""

    def __init__(self, home: Path, scan_axes, worlds, tolerance_s: float) -> None:
        world = make_world(home)
        worlds.append(world)
        self.world = world
        self.services = OracleCell(world, home, OutageGuard(tolerance_s, **SHORT))
        self.lines: list[str] = []
        self.waiting = threading.Event()
        self.trigger: Callable[[CycleEvent], bool] = lambda event: False
        self.outage: PgOutage | SqliteLock | None = None
        context = make_context(home)
        context.notify = self._notify
        self.runner = CycleRunner(self.services, context, scan_axes, on_event=self._on_event)

    def _notify(self, line: str) -> None:
        self.lines.append(line)
        if line.startswith(WAITING):
            self.waiting.set()

    def _on_event(self, event: CycleEvent, job: CycleJob) -> None:
        # runs on the cycle's thread: the database is gone before the next step starts
        if self.outage is not None and not self.outage.down and self.trigger(event):
            self.trigger = lambda event: False
            self.outage.take_away()

    def give_back_once_waiting(self) -> threading.Thread:
        """Bring the database back as soon as the cycle reports that it waits for it."""

        def run() -> None:
            if self.waiting.wait(60) and self.outage is not None:
                self.outage.give_back()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def reset_drives(self) -> None:
        self.world.arm.reset()
        self.world.stage.reset()


def at_needs_design(event: CycleEvent) -> bool:
    return event.kind == "progress" and event.message == f"viewpoint {VIEWPOINTS}/{VIEWPOINTS} stored"


def at_recording(event: CycleEvent) -> bool:
    return event.kind == "state" and str(event.progress.state) == "RECORDING"


def _job(serial: str) -> CycleJob:
    return CycleJob(new_cycle_id(), serial, FAMILY, operator="tester")


def recorded(cycle_id: str) -> tuple[int, int, int]:
    """(cycle rows, capture rows, defect rows) of one cycle in the configured database."""
    from sqlalchemy import func, select

    from database.engine import create_db_engine, make_session_factory
    from database.orm import Capture, Defect, InspectionCycle
    from database.settings import load_settings

    engine = create_db_engine(load_settings().url)
    try:
        with make_session_factory(engine)() as session:
            ids = list(
                session.scalars(
                    select(InspectionCycle.id).where(InspectionCycle.cycle_uuid == uuid.UUID(cycle_id))
                )
            )
            count = lambda model: session.scalar(  # noqa: E731
                select(func.count()).select_from(model).where(model.cycle_id.in_(ids))
            )
            return len(ids), count(Capture), count(Defect)
    finally:
        engine.dispose()


def assert_done_once(cell: Cell, job: CycleJob, out: CycleOutcome) -> None:
    assert out.final_state == "DONE", out.message
    cycles, captures, defects = recorded(job.cycle_id)
    assert (cycles, captures, defects) == (1, VIEWPOINTS, out.defect_count), (cycles, captures, defects)
    assert dict(cell.services.capture_calls) == dict.fromkeys(range(VIEWPOINTS), 1)  # nothing scanned twice
    assert cell.world.blade_holder in ("tray", "reject_bin")


@pytest.mark.postgres
@pytest.mark.parametrize("where", [at_needs_design, at_recording], ids=["needs_design", "recording"])
def test_short_postgres_outage_is_waited_out_and_the_cycle_completes(
    home, pg, scan_axes, worlds, where
) -> None:
    cell = Cell(home, scan_axes, worlds, tolerance_s=30.0)
    version = cell.services.deploy_oracle()
    cell.outage, cell.trigger = pg, where
    helper = cell.give_back_once_waiting()
    job = _job("SN-DB-SHORT")
    out = cell.runner.run_new(job)
    helper.join(5)
    assert_done_once(cell, job, out)  # before the fix: FAULTED at once with the database error
    assert cell.waiting.is_set(), "the outage never reached the cycle"
    assert out.model_version == version and cell.services.designs == []  # the lookup's answer was used
    waits = [line for line in cell.lines if line.startswith(WAITING)]
    assert all("\n" not in line and "records database" in line for line in waits)
    assert any(line.startswith("records database back after") for line in cell.lines)


@pytest.mark.postgres
def test_postgres_outage_while_registering_a_designed_model_keeps_the_design(
    home, pg, scan_axes, worlds
) -> None:
    """The first cycle of a family designs; the database goes away between the design and its
    registration: the design is not redone and the model is registered and deployed once."""
    cell = Cell(home, scan_axes, worlds, tolerance_s=30.0)
    cell.outage = pg

    def design_then_outage(*args, **kwargs):
        result = fake_design(*args, **kwargs)
        pg.take_away()
        return result

    cell.services.designer.design_fn = design_then_outage
    helper = cell.give_back_once_waiting()
    job = _job("SN-DB-DESIGN")
    out = cell.runner.run_new(job)
    helper.join(5)
    assert cell.waiting.is_set() and any("registering" in line for line in cell.lines)
    assert_done_once(cell, job, out)
    assert len(cell.services.designs) == 1 and out.model_version == cell.services.designs[0]
    models = cell.services.registry.list(FAMILY)
    assert [m.version for m in models] == [out.model_version] and models[0].status.value == "deployed"


@pytest.mark.postgres
def test_postgres_outage_past_the_tolerance_at_registration_faults_and_resume_registers_the_same_model(
    home, pg, scan_axes, worlds
) -> None:
    cell = Cell(home, scan_axes, worlds, tolerance_s=2.0)
    designs = []

    def design_then_outage(*args, **kwargs):
        designs.append(1)
        result = fake_design(*args, **kwargs)
        pg.take_away()
        return result

    cell.services.designer.design_fn = design_then_outage
    job = _job("SN-DB-REG")
    out = cell.runner.run_new(job)
    assert out.final_state == "FAULTED" and "design failed: records database unreachable" in out.message
    assert "while registering" in out.message and cell.world.blade_holder == "fixture"
    pg.give_back()
    cell.reset_drives()
    resumed = cell.runner.run_resume("SN-DB-REG")
    assert_done_once(cell, job, resumed)
    assert len(designs) == 1  # the resumed cycle registered the model designed before the outage
    models = cell.services.registry.list(FAMILY)
    assert [m.version for m in models] == [resumed.model_version] and models[0].status.value == "deployed"


@pytest.mark.postgres
@pytest.mark.parametrize("where", [at_needs_design, at_recording], ids=["needs_design", "recording"])
def test_postgres_outage_past_the_tolerance_faults_with_the_reason_and_resume_completes(
    home, pg, scan_axes, worlds, where
) -> None:
    cell = Cell(home, scan_axes, worlds, tolerance_s=2.0)
    cell.services.deploy_oracle()
    cell.outage, cell.trigger = pg, where
    job = _job("SN-DB-LONG")
    out = cell.runner.run_new(job)
    assert out.final_state == "FAULTED", out.message
    assert "records database unreachable for" in out.message and "resume" in out.message
    assert "\n" not in out.message and "db_outage_tolerance_s" in out.message
    assert cell.world.blade_holder == "fixture"
    pg.give_back()
    assert recorded(job.cycle_id) == (0, 0, 0)
    cell.reset_drives()
    resumed = cell.runner.run_resume("SN-DB-LONG")
    assert resumed.cycle_id == job.cycle_id
    assert_done_once(cell, job, resumed)


@pytest.mark.parametrize("tolerance_s", [30.0, 1.0], ids=["short", "past_tolerance"])
def test_sqlite_write_lock_at_recording_is_waited_out_or_faults_and_resumes(
    home, scan_axes, worlds, monkeypatch, tolerance_s
) -> None:
    import database.engine

    monkeypatch.setattr(database.engine, "SQLITE_BUSY_TIMEOUT_MS", 100)  # SQLite's own wait, shortened
    cell = Cell(home, scan_axes, worlds, tolerance_s=tolerance_s)
    cell.services.deploy_oracle()
    lock = SqliteLock(home / "bladecell.sqlite3")
    cell.outage, cell.trigger = lock, at_recording
    job = _job("SN-SQLITE")
    try:
        if tolerance_s > 5:
            helper = cell.give_back_once_waiting()
            out = cell.runner.run_new(job)
            helper.join(5)
            assert cell.waiting.is_set() and "database is locked" in "".join(cell.lines)
        else:
            out = cell.runner.run_new(job)
            assert out.final_state == "FAULTED" and "records database unreachable" in out.message
            assert "database is locked" in out.message and recorded(job.cycle_id) == (0, 0, 0)
            lock.give_back()
            cell.reset_drives()
            out = cell.runner.run_resume("SN-SQLITE")
    finally:
        lock.close()
    assert_done_once(cell, job, out)
