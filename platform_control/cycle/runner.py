"""Runs inspection cycles one at a time, journals them, resumes faulted ones.

The coordinator node owns one `CycleRunner`. A cycle is an `CycleMachine` (platform_control.cycle)
whose journal lives in `<home>/cycles/<cycle_id>.json`, with the job (serial, family, operator, queue
request) and the scan plan's stage poses in its metadata, so a resumed cycle scans exactly the same
poses even if the planner changed meanwhile; the LOAD/UNLOAD's gripper milestones go there too
(``pick_place``), so a resumed pick-and-place knows whether the blade was gripped or released.
`run_new` / `run_resume` block the calling thread until the cycle is DONE, FAULTED or ABORTED;
`estop`, `abort` and `reset_estop` may come from any thread.

`submit` queues a cycle on the runner's one worker thread and returns a `Future` of its outcome: a
node hands every request (action goal, database queue entry) to it and gets the result through the
future (`result()` or `add_done_callback`), so no thread is started per request and cycles never
overlap.

Stage timings come from the journal's transition history (time spent in each state, summed over
resumes), so they survive a coordinator restart.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from platform_control.cycle.acceptance import verdict_label
from platform_control.cycle.cell_steps import CellCycleSteps, StepsContext
from platform_control.cycle.machine import CycleMachine
from platform_control.cycle.motion import PickPlaceJournal
from platform_control.cycle.records import CycleEvent
from platform_control.cycle.services import CellServices, CycleJob
from platform_control.cycle.states import ACTIVE_STATES, CycleState, EStopLatchedError, InvalidTransitionError

log = logging.getLogger(__name__)
S = CycleState
PICK_PLACE_KEY = "pick_place"  # journal metadata: the LOAD/UNLOAD's last gripper milestone


class CellBusyError(RuntimeError):
    """A cycle is already running on this cell."""


class NothingToResumeError(LookupError):
    """No FAULTED cycle of that blade in the journals."""


@dataclass(frozen=True)
class CycleOutcome:
    """What the technician gets back when a cycle ends."""

    cycle_id: str
    job: CycleJob
    final_state: str
    verdict: str
    defect_count: int
    record_id: int | None
    model_version: str | None
    message: str
    duration_s: float
    stage_timings: dict[str, float] = field(default_factory=dict)
    viewpoint_count: int = 0
    captures: int = 0


def stage_timings(history: list[dict[str, Any]], now: float) -> dict[str, float]:
    """Seconds spent in each active state, from the journal's transitions (summed over resumes)."""
    out: dict[str, float] = {}
    current: tuple[str, float] | None = None
    for entry in history:
        if "to" not in entry:
            continue
        if current is not None and current[0] in {str(s) for s in ACTIVE_STATES}:
            out[current[0]] = out.get(current[0], 0.0) + entry["time"] - current[1]
        current = (entry["to"], entry["time"])
    if current is not None and current[0] in {str(s) for s in ACTIVE_STATES}:
        out[current[0]] = out.get(current[0], 0.0) + now - current[1]
    return {k: round(v, 3) for k, v in out.items()}


EventCallback = Callable[[CycleEvent, CycleJob], None]


class CycleRunner:
    """One cell's cycles. ``services`` does the work, ``context`` holds the cell's constants."""

    def __init__(
        self,
        services: CellServices,
        context: StepsContext,
        scan_axes: Callable[[str], np.ndarray],
        *,
        on_event: EventCallback | None = None,
    ) -> None:
        self.services = services
        self.context = context
        self.scan_axes = scan_axes
        self.journal_dir = context.home / "cycles"
        self.on_event = on_event
        self._lock = threading.Lock()
        self._cycle: CycleMachine | None = None
        self._job: CycleJob | None = None
        self._cancel = threading.Event()
        self.estop_latched = False
        self._work: queue.SimpleQueue[tuple[Future, Callable[[], CycleOutcome]] | None] = queue.SimpleQueue()
        self._pending = 0  # submitted and not finished
        self._pending_lock = threading.Lock()
        self._worker: threading.Thread | None = None

    # ---------------------------------------------------------------------------- queries
    @property
    def cycle(self) -> CycleMachine | None:
        return self._cycle

    @property
    def job(self) -> CycleJob | None:
        return self._job

    @property
    def busy(self) -> bool:
        cycle = self._cycle
        return cycle is not None and cycle.state in ACTIVE_STATES

    def faulted_cycle_of(self, blade_serial: str) -> Path | None:
        """Journal of the newest FAULTED (or crashed mid-step) cycle of this blade, if any."""
        best: tuple[float, Path] | None = None
        for path in self.journal_dir.glob("*.json"):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                log.warning("skipping unreadable journal %s", path)
                continue
            job = data.get("metadata", {}).get("job", {})
            if job.get("blade_serial") != blade_serial:
                continue
            if data.get("state") in {"FAULTED", *(str(s) for s in ACTIVE_STATES)}:
                created = float(data.get("created", 0.0))
                if best is None or created > best[0]:
                    best = (created, path)
        return best[1] if best else None

    @property
    def pending(self) -> int:
        """Cycles submitted to the worker and not finished yet."""
        with self._pending_lock:
            return self._pending

    # --------------------------------------------------------------------------- worker
    def submit(
        self, job: CycleJob, *, resume: bool = False, prepare: Callable[[], None] | None = None
    ) -> Future[CycleOutcome]:
        """Queue a new cycle for ``job`` (or, with ``resume``, the resume of its blade's faulted cycle) on
        the worker thread. ``prepare`` runs on the worker just before (e.g. release the drivers'
        latches); an exception there or in starting the cycle is the future's exception."""

        def work() -> CycleOutcome:
            if prepare is not None:
                prepare()
            return self.run_resume(job.blade_serial) if resume else self.run_new(job)

        future: Future[CycleOutcome] = Future()
        with self._pending_lock:
            self._pending += 1
            if self._worker is None:
                self._worker = threading.Thread(target=self._work_loop, name="cycle-worker", daemon=True)
                self._worker.start()
        self._work.put((future, work))
        return future

    def close(self) -> None:
        """Stop the worker after the cycle it runs (the caller aborts that cycle first if it must)."""
        self._work.put(None)

    def _work_loop(self) -> None:
        while (item := self._work.get()) is not None:
            future, work = item
            if not future.set_running_or_notify_cancel():
                self._finished()
                continue
            try:
                outcome = work()
            except BaseException as exc:  # the future carries it to whoever waits
                self._finished()
                future.set_exception(exc)
            else:
                self._finished()
                future.set_result(outcome)

    def _finished(self) -> None:
        with self._pending_lock:
            self._pending -= 1

    # --------------------------------------------------------------------------- commands
    def run_new(self, job: CycleJob) -> CycleOutcome:
        """Plan, start and run a new cycle for ``job`` (blocks until it ends)."""
        axes = self.scan_axes(job.part_family)
        metadata = {"job": job.to_dict(), "scan_axes": np.round(axes, 9).tolist()}
        return self._run(job, self.journal_dir / f"{job.cycle_id}.json", metadata, resume=False)

    def run_resume(self, blade_serial: str) -> CycleOutcome:
        """Resume the newest FAULTED cycle of ``blade_serial`` where it stopped (blocks)."""
        journal = self.faulted_cycle_of(blade_serial)
        if journal is None:
            raise NothingToResumeError(
                f"no faulted cycle of blade {blade_serial!r} in {self.journal_dir} (none was started, "
                "or it ended): start a new cycle for the blade"
            )
        data = json.loads(journal.read_text())
        job = CycleJob.from_dict(data["metadata"]["job"])
        return self._run(job, journal, None, resume=True)

    def estop(self, reason: str = "emergency stop") -> None:
        self.estop_latched = True
        self._cancel.set()
        cycle = self._cycle
        if cycle is not None:
            cycle.estop(reason)
        else:
            self.services.halt_motion()

    def reset_estop(self) -> None:
        self.estop_latched = False
        cycle = self._cycle
        if cycle is not None:
            cycle.reset_estop()

    def abort(self, reason: str = "aborted by operator") -> None:
        cycle = self._cycle
        if cycle is None:
            raise InvalidTransitionError("no cycle to abort")
        self._cancel.set()
        cycle.abort(reason)

    # -------------------------------------------------------------------------- internals
    def _run(self, job: CycleJob, journal: Path, metadata: dict | None, *, resume: bool) -> CycleOutcome:
        with self._lock:
            if self.busy:
                raise CellBusyError(f"cycle {self._cycle.cycle_id} is running")  # type: ignore[union-attr]
            if self.estop_latched:
                raise EStopLatchedError("the e-stop is latched; release and reset it first")
            self._cancel = threading.Event()
            holder: dict[str, CycleMachine] = {}
            axes = np.asarray((metadata or json.loads(journal.read_text())["metadata"])["scan_axes"])
            started_at = time.time() if not resume else float(json.loads(journal.read_text())["created"])
            steps = CellCycleSteps(
                self.services,
                job,
                axes,
                self.context,
                timings=lambda: stage_timings(holder["cycle"].history, time.time()),
                started_at=started_at,
                cancel=self._cancel,
                journal=PickPlaceJournal(
                    read=lambda: holder["cycle"].metadata.get(PICK_PLACE_KEY),
                    write=lambda entry: holder["cycle"].set_metadata(PICK_PLACE_KEY, dict(entry)),
                ),
            )
            cycle = CycleMachine(steps.as_steps(), journal, cycle_id=job.cycle_id, metadata=metadata)
            holder["cycle"] = cycle
            self._cycle, self._job = cycle, job
            cycle.add_observer(self._relay)
            if resume:
                if cycle.state != S.FAULTED:
                    raise InvalidTransitionError(f"cycle {job.cycle_id} is {cycle.state}, not FAULTED")
                cycle.reset_estop()
                cycle.resume()
            else:
                cycle.start(len(axes), force_design=job.force_redesign)
        cycle.run()
        return self.outcome(cycle, job)

    def _relay(self, event: CycleEvent) -> None:
        if self.on_event is not None and self._job is not None:
            self.on_event(event, self._job)

    def outcome(self, cycle: CycleMachine, job: CycleJob) -> CycleOutcome:
        progress = cycle.progress
        history = cycle.history
        started = history[0]["time"] if history else time.time()
        ended = history[-1]["time"] if history else started
        detection = progress.detection
        model_version = detection.model_version if detection else progress.model_ref
        record_id = None
        if progress.record_ref and progress.record_ref.startswith("record:"):
            record_id = int(progress.record_ref.split(":", 1)[1])
        if progress.state == S.DONE:
            verdict = verdict_label(bool(detection and detection.reject))
            message = f"{detection.defect_count if detection else 0} defects, blade {verdict}"
        else:
            verdict = "incomplete"
            message = progress.fault.message if progress.fault else str(progress.state)
        return CycleOutcome(
            cycle_id=progress.cycle_id,
            job=job,
            final_state=str(progress.state),
            verdict=verdict,
            defect_count=detection.defect_count if detection else 0,
            record_id=record_id,
            model_version=model_version,
            message=message,
            duration_s=round(ended - started, 3),
            stage_timings=stage_timings(history, ended),
            viewpoint_count=progress.viewpoint_count,
            captures=len(progress.capture_refs),
        )


def new_cycle_id() -> str:
    """Cycle ids are UUID hex: the database's idempotency key for recording."""
    return uuid.uuid4().hex
