"""The cell's progress -> rows the technician's station streams (`database.services.progress`).

Why here: it combines the cycle's events (`platform_control.cycle`) and the capture store's manifests
with the database. The coordinator calls `on_event` from the runner's observer, `on_estop` /
`on_reset` from its e-stop handlers and `on_end` when a cycle's future completes. State changes,
e-stops and ends are always written; stored captures at most every `min_interval_s` (the last one of
a scan is never dropped). Rows are written in order by one writer thread, so neither the cycle nor an
e-stop or reset callback ever waits on the database (a SQLite file another writer holds, a slow
PostgreSQL).

A short outage of the database costs the station nothing (issue 16): the writer waits it out through
the cell's `OutageGuard` (the cycle's own tolerance, `db_outage_tolerance_s`) and the events that come
meanwhile wait behind it in memory, so they are all written afterwards, in order, each once (a failed
append was rolled back: `database.services.transactions`). The backlog is bounded (`max_backlog`:
events past it are dropped and counted); an outage past the tolerance drops the event being written,
and later events are tried once each, as before, until the database is back.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from database.api.schemas.station import CycleEventIn, RejectingDefect
from platform_control.cycle.acceptance import AcceptanceRules, rejecting
from platform_control.cycle.detections import DetectionsError, DetectionsFile
from platform_control.cycle.records import CycleEvent, CycleProgress
from platform_control.cycle.refs import detections_ref
from platform_control.cycle.retry import RetryCancelled
from platform_control.cycle.runner import CycleOutcome
from platform_control.cycle.services import CycleJob
from platform_control.cycle.status import cycle_fraction

from .capture_store import CaptureStore, CaptureStoreError
from .db_outage import DatabaseOutageError, OutageGuard, is_outage, one_line

log = logging.getLogger(__name__)
MIN_ETA_FRACTION = 0.03  # below this an ETA is a guess; the station shows none
#: events held in memory while the database is away (a scan writes at most ~4 a second)
MAX_BACKLOG = 1000


def eta_s(elapsed_s: float, fraction: float) -> float | None:
    """Seconds left if the rest of the cycle goes at the pace so far (None too early to tell)."""
    if fraction < MIN_ETA_FRACTION or fraction >= 1.0:
        return 0.0 if fraction >= 1.0 else None
    return round(elapsed_s * (1.0 - fraction) / fraction, 1)


class ProgressFeed:
    def __init__(
        self,
        log_target: Any,
        cell: str,
        home: Path,
        acceptance: AcceptanceRules,
        *,
        min_interval_s: float = 0.25,
        clock: Callable[[], float] = time.time,
        guard: OutageGuard | None = None,
        max_backlog: int = MAX_BACKLOG,
    ) -> None:
        self.log = log_target  # database.services.progress.ProgressLog (or anything with append)
        self.cell = cell
        self.captures = CaptureStore(home)
        self.home = home
        self.acceptance = acceptance
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._last_progress = 0.0
        self.guard = guard or OutageGuard()
        self.max_backlog = max_backlog
        self.dropped = 0  # events lost to a backlog past `max_backlog` or an outage past the tolerance
        self._down = False  # an outage outlasted the tolerance: one try per event until it is back
        self._stop = threading.Event()
        self._queue: queue.Queue[CycleEventIn | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()

    # ------------------------------------------------------------------------------ inputs
    def on_event(self, event: CycleEvent, job: CycleJob, started_at: float) -> None:
        """A state change or a stored capture of the running cycle."""
        progress = event.progress
        now = self.clock()
        if event.kind == "progress":
            last = progress.next_viewpoint is None
            if not last and now - self._last_progress < self.min_interval_s:
                return
            self._last_progress = now
        fields = self._cycle_fields(progress, job, started_at, now)
        fields.update(self._preview(progress) if progress.capture_refs else {})
        self._write(kind=event.kind, message=event.message, estop=progress.estop_latched, **fields)

    def on_cell(
        self,
        kind: str,
        estop: bool,
        message: str,
        job: CycleJob | None = None,
        progress: CycleProgress | None = None,
        started_at: float | None = None,
    ) -> None:
        """The e-stop pressed/released ("estop") or reset ("reset"), with or without a cycle."""
        now = self.clock()
        fields = (
            self._cycle_fields(progress, job, started_at or now, now)
            if job and progress
            else {"state": "IDLE"}
        )
        self._write(kind=kind, message=message, estop=estop, **fields)

    def on_end(self, outcome: CycleOutcome) -> None:
        """The cycle's end: DONE with its verdict and rejecting defects, or FAULTED/ABORTED and why."""
        job = outcome.job
        reasons: list[RejectingDefect] = []
        if outcome.final_state == "DONE" and outcome.verdict == "fail":
            reasons = self._rejecting(detections_ref(job.part_family, outcome.cycle_id))
        done = outcome.final_state == "DONE"
        self._write(
            kind="end",
            cycle_id=outcome.cycle_id,
            request_uuid=_uuid(job.request_uuid),
            blade_serial=job.blade_serial,
            part_family=job.part_family,
            state=outcome.final_state,
            viewpoint_index=outcome.captures,
            viewpoint_count=outcome.viewpoint_count,
            fraction=1.0 if done else 0.0,
            elapsed_s=round(max(0.0, outcome.duration_s), 1),
            eta_s=0.0 if done else None,
            message=outcome.message,
            verdict=outcome.verdict,
            defect_count=outcome.defect_count,
            record_id=outcome.record_id,
            rejecting=reasons,
        )

    # ---------------------------------------------------------------------------- helpers
    def _cycle_fields(self, progress: CycleProgress, job: CycleJob, started_at: float, now: float) -> dict:
        fraction = cycle_fraction(progress)
        elapsed = round(max(0.0, now - started_at), 1)
        return {
            "cycle_id": progress.cycle_id,
            "request_uuid": _uuid(job.request_uuid),
            "blade_serial": job.blade_serial,
            "part_family": job.part_family,
            "state": str(progress.state),
            "viewpoint_index": len(progress.capture_refs),
            "viewpoint_count": progress.viewpoint_count,
            "fraction": fraction,
            "elapsed_s": elapsed,
            "eta_s": eta_s(elapsed, fraction),
        }

    def _preview(self, progress: CycleProgress) -> dict:
        ref = progress.capture_refs[max(progress.capture_refs)]
        try:
            channel = self.captures.manifest(ref)["channels"][0]
        except (CaptureStoreError, KeyError, IndexError) as exc:
            log.warning("no preview for %s: %s", ref, exc)
            return {}
        return {"preview_sha256": channel["sha256"], "preview_channel": channel["channel"]}

    def _rejecting(self, ref: str) -> list[RejectingDefect]:
        try:
            defects = DetectionsFile.read(self.home, ref).defects
        except DetectionsError as exc:
            log.warning("cannot list the rejecting defects: %s", exc)
            return []
        return [
            RejectingDefect(
                defect_class=d["defect_class"],
                area_mm2=float(d["area_mm2"]),
                viewpoint_index=d.get("viewpoint_index"),
                reason=reason,
            )
            for d, reason in rejecting(defects, self.acceptance)
        ]

    def _write(self, **fields: Any) -> None:
        try:
            event = CycleEventIn(cell=self.cell, **fields)
        except ValueError as exc:
            log.warning("progress event not valid, not written: %s", exc)
            return
        with self._writer_lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._drain, name="progress-feed", daemon=True)
                self._writer.start()
        if self._queue.qsize() >= self.max_backlog:
            self._drop(f"{self.max_backlog} events wait for the database already")
            return
        self._queue.put(event)

    def _drain(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                self._append(event)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _append(self, event: CycleEventIn) -> None:
        """Write one event, waiting out a short outage (the events behind it wait in the queue)."""
        append = lambda: self.log.append(event)  # noqa: E731
        try:
            if self._down:  # past the tolerance already: do not hold the backlog up again
                append()
                log.info("progress events written again")
                self._down = False
            else:
                self.guard.call("writing the station's progress", append, cancel=self._stop)
        except DatabaseOutageError as exc:
            self._down = True
            self._drop(str(exc))
        except RetryCancelled:
            self._drop("the feed was closed while the database was away")
        except Exception as exc:
            self._drop(one_line(exc) if is_outage(exc) else f"not valid for the database: {one_line(exc)}")

    def _drop(self, why: str) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 100 == 0:
            log.warning("progress event not written (%d so far): %s", self.dropped, why)

    def flush(self) -> None:
        """Wait until every event handed in so far is written (or given up)."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued, then stop the writer; a database that is away is not waited for."""
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._stop.set()
            self._queue.put(None)
            writer.join(10)


def _uuid(text: str | None) -> uuid.UUID | None:
    return uuid.UUID(text) if text else None
