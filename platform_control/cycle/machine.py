"""`CycleMachine`: the cell's cycle state machine, with a crash-safe journal and thread-safe stops.

Usage (one thread runs the cycle; any thread may stop it):

    cycle = CycleMachine(steps, journal_path, cycle_id="C-0042")
    cycle.add_observer(lambda event: publish(event.progress))
    cycle.start(viewpoint_count=len(plan.viewpoints))
    progress = cycle.run()            # blocks until DONE, ABORTED or FAULTED
    # FAULTED: fix the cause, then   cycle.resume(); cycle.run()

`estop()` calls `steps.halt_motion()` at once (on the caller's thread), moves the cycle to FAULTED and
latches: no step runs again until `reset_estop()` and `resume()`. `abort()` halts and ends the cycle.
Constructing a `CycleMachine` on the journal of a cycle whose controller died mid-step finds it
FAULTED (kind "crash") with every journaled capture kept; `resume()` continues at the first viewpoint
without a stored capture.

Size: ~450 lines because the transitions, the journal writes and the stop/resume rules share one lock
and one record; split, each part would have to take the other's lock.
"""

from __future__ import annotations

import copy
import errno
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from platform_control.cycle.journal import CycleJournal, JournalError, JournalState
from platform_control.cycle.records import CycleEvent, CycleProgress, Detection, Fault, FaultKind, Observer
from platform_control.cycle.states import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    CycleState,
    EStopLatchedError,
    InvalidTransitionError,
    check_transition,
)
from platform_control.cycle.steps import CycleSteps

log = logging.getLogger(__name__)
S = CycleState


#: OS errors a technician can act on: what the fault says beside the system's own words
_STORAGE_ERRNOS = {
    errno.ENOSPC: "the data disk is full",
    errno.EDQUOT: "the data disk quota is used up",
    errno.EROFS: "the data disk is read-only",
}


def describe_error(error: BaseException) -> str:
    """A step's error as the fault reports it: storage errors say what to do (free space or fix the
    disk, then resume), everything else its own message."""
    if isinstance(error, OSError) and error.errno in _STORAGE_ERRNOS:
        return f"{_STORAGE_ERRNOS[error.errno]} ({error}); free space on it, then resume"
    return str(error)


class CycleMachine:
    """State machine of one inspection cycle, persisted in a journal file."""

    def __init__(
        self,
        steps: CycleSteps,
        journal: Path | str | CycleJournal,
        *,
        cycle_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.steps = steps
        self.journal = journal if isinstance(journal, CycleJournal) else CycleJournal(journal)
        self._clock = clock
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._observers: list[Observer] = []
        self._running = False
        self._epoch = 0  # bumped on every state change; a step result from an older epoch was interrupted
        self._completed_next: CycleState | None = None  # work of the state finished while a stop was pending
        self.stop_grace_s = 10.0  # how long run() waits for an e-stop/abort caller to finish its transition
        self.stop_requested = threading.Event()
        if self.journal.exists():
            self._record = self.journal.load()
            if cycle_id is not None and cycle_id != self._record.cycle_id:
                raise JournalError(
                    f"journal {self.journal.path} is for cycle '{self._record.cycle_id}', not '{cycle_id}'"
                )
            if self._record.state in ACTIVE_STATES:  # the previous controller died inside a step
                with self._lock:
                    state = self._record.state
                    self._enter_fault(
                        "crash", f"controller restarted during {state}", None, self._current_viewpoint(state)
                    )
        else:
            self._record = JournalState(cycle_id=cycle_id or uuid.uuid4().hex, metadata=dict(metadata or {}))
            self._record.created = clock()
            self._persist()

    def __repr__(self) -> str:
        return f"CycleMachine({self.cycle_id!r}, state={self.state}, journal={str(self.journal.path)!r})"

    # --------------------------------------------------------------------------------- queries
    @property
    def cycle_id(self) -> str:
        return self._record.cycle_id

    @property
    def state(self) -> CycleState:
        with self._lock:
            return self._record.state

    @property
    def progress(self) -> CycleProgress:
        with self._lock:
            return self._record.snapshot()

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every transition so far: {"time", "from", "to", "reason"}."""
        with self._lock:
            return [dict(h) for h in self._record.history]

    @property
    def running(self) -> bool:
        with self._lock:
            return self._running

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the journal's metadata (job, scan poses, steps' milestones)."""
        with self._lock:
            return copy.deepcopy(self._record.metadata)

    def set_metadata(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-able) under ``key`` in the journal's metadata and write the journal now.

        Why: a step that must know after a crash how far it got (the pick-and-place's gripper
        milestones) records it here before it goes on. Raises `JournalError` if the write fails (the
        metadata keeps its old value), so the step stops rather than act unrecorded.
        """
        with self._lock:
            had, old = key in self._record.metadata, self._record.metadata.get(key)
            self._record.metadata[key] = copy.deepcopy(value)
            try:
                self._persist()
            except JournalError:
                if had:
                    self._record.metadata[key] = old
                else:
                    self._record.metadata.pop(key, None)
                raise

    def add_observer(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(event)`` on every state change and stored capture; returns an unsubscribe.

        Observers run synchronously on the thread that caused the event: keep them short and do not
        block on the cycle from inside them. Their exceptions are logged and ignored.
        """
        with self._lock:
            self._observers.append(observer)

        def remove() -> None:
            with self._lock:
                if observer in self._observers:
                    self._observers.remove(observer)

        return remove

    def wait_for(self, states: Iterable[CycleState] | CycleState, timeout: float | None = None) -> bool:
        """Block until the cycle is in one of ``states``; False on timeout."""
        wanted = {states} if isinstance(states, CycleState) else set(states)
        with self._changed:
            return self._changed.wait_for(lambda: self._record.state in wanted, timeout=timeout)

    # -------------------------------------------------------------------------------- commands
    def start(self, viewpoint_count: int, *, force_design: bool = False) -> None:
        """IDLE → LOADING for a scan of ``viewpoint_count`` viewpoints; `run` then does the work."""
        if viewpoint_count < 1:
            raise ValueError(f"cycle {self.cycle_id}: viewpoint_count must be >= 1, got {viewpoint_count}")
        with self._lock:
            self._require_not_latched("start")
            check_transition(self._record.state, S.LOADING)
            self._record.viewpoint_count = int(viewpoint_count)
            self._record.force_design = bool(force_design)
            self.stop_requested.clear()
            self._transition(S.LOADING, f"start: {viewpoint_count} viewpoints")

    def resume(self) -> None:
        """FAULTED → the interrupted state (the scan continues at the first viewpoint not stored)."""
        with self._lock:
            if self._record.state != S.FAULTED:
                raise InvalidTransitionError(
                    f"cycle {self.cycle_id} is {self._record.state}, only FAULTED can resume"
                )
            self._require_not_latched("resume")
            if self._running:
                raise InvalidTransitionError(
                    f"cycle {self.cycle_id}: the interrupted step has not returned yet"
                )
            target = self._record.resume_state or S.IDLE
            self.stop_requested.clear()
            self._record.fault = None
            self._record.resume_state = None
            self._transition(target, "resume")

    def estop(self, reason: str = "emergency stop") -> None:
        """Halt all motion now (any thread), fault the cycle and latch until `reset_estop`."""
        self.stop_requested.set()
        self._halt_motion()
        with self._lock:
            self._record.estop_latched = True
            state = self._record.state
            if state not in TERMINAL_STATES and state != S.FAULTED:
                self._enter_fault("estop", reason, None, self._current_viewpoint(state))
            else:
                self._note(f"e-stop while {state}: {reason}")
                self._persist_or_fault(state, None)
                self._notify("state", state, f"e-stop latched: {reason}")

    def reset_estop(self) -> None:
        """Release the e-stop latch (the operator has made the cell safe); the cycle stays FAULTED."""
        with self._lock:
            if self._record.estop_latched:
                self._record.estop_latched = False
                self._note("e-stop reset")
                self._persist()
                self._notify("state", self._record.state, "e-stop reset")

    def abort(self, reason: str = "aborted by operator") -> None:
        """Halt motion and end the cycle as ABORTED (from any unfinished state, any thread)."""
        with self._lock:
            check_transition(self._record.state, S.ABORTED)
        self.stop_requested.set()
        self._halt_motion()
        with self._lock:
            if self._record.state in TERMINAL_STATES:  # finished meanwhile
                raise InvalidTransitionError(
                    f"cycle {self.cycle_id} finished as {self._record.state} before the abort"
                )
            self._transition(S.ABORTED, reason)

    def report_fault(self, message: str) -> None:
        """Fault the cycle from outside a step (e.g. a node went away); halts motion like a step error."""
        self.stop_requested.set()
        self._halt_motion()
        with self._lock:
            state = self._record.state
            if state in TERMINAL_STATES or state == S.FAULTED:
                raise InvalidTransitionError(f"cycle {self.cycle_id} is {state}; cannot fault it")
            self._enter_fault("external", message, None, self._current_viewpoint(state))

    def run(self) -> CycleProgress:
        """Run steps until the cycle is DONE, ABORTED or FAULTED; returns the final snapshot.

        Must be called in an active state (after `start` or `resume`). Exceptions from steps fault the
        cycle; only non-`Exception` errors (KeyboardInterrupt, SystemExit) escape, as in a crash.
        """
        with self._lock:
            if self._running:
                raise InvalidTransitionError(f"cycle {self.cycle_id} is already running")
            if self._record.state not in ACTIVE_STATES:
                raise InvalidTransitionError(
                    f"cycle {self.cycle_id} is {self._record.state}; run() needs start() or resume() first"
                )
            self._running = True
        try:
            while True:
                with self._changed:
                    state = self._record.state
                    if state not in ACTIVE_STATES:
                        break
                    if self.stop_requested.is_set():
                        # an e-stop/abort/fault caller has halted motion and is about to change the state
                        if not self._changed.wait_for(
                            lambda: self._record.state not in ACTIVE_STATES, timeout=self.stop_grace_s
                        ):
                            self._enter_fault(
                                "external", "stop requested but the cycle was not stopped", None, None
                            )
                        continue
                    epoch = self._epoch
                    step_name, call, viewpoint = self._next_step(state)
                result: Any = None
                error: Exception | None = None
                try:
                    result = call()
                except Exception as exc:
                    error = exc
                with self._lock:
                    self._finish_step(state, epoch, step_name, viewpoint, result, error)
        finally:
            with self._changed:
                self._running = False
                self._changed.notify_all()
        return self.progress

    # ------------------------------------------------------------------------------- internals
    def _next_step(self, state: CycleState) -> tuple[str, Callable[[], Any], int | None]:
        rec = self._record
        if state == S.LOADING:
            return "load", self.steps.load, None
        if state == S.SCANNING:
            nxt = rec.snapshot().next_viewpoint
            if nxt is not None:
                return "scan_viewpoint", lambda: self.steps.scan_viewpoint(nxt), nxt
            if rec.force_design:
                return "needs_design", lambda: True, None
            return "needs_design", self.steps.needs_design, None
        if state == S.DESIGNING:
            if self.steps.design is None:
                return "design", self._no_design_step, None
            return "design", self.steps.design, None
        if state == S.DETECTING:
            refs, model = rec.snapshot().ordered_capture_refs(), rec.model_ref
            return "detect", lambda: self.steps.detect(refs, model), None
        if state == S.RECORDING:
            snap = rec.snapshot()
            return "record", lambda: self.steps.record(snap), None
        if state == S.UNLOADING:
            reject = bool(rec.detection and rec.detection.reject)
            return "unload", lambda: self.steps.unload(reject), None
        raise AssertionError(f"no step for {state}")

    @staticmethod
    def _no_design_step() -> str:
        raise RuntimeError("needs_design() asked for DESIGNING but CycleSteps.design is not provided")

    def _finish_step(
        self,
        state: CycleState,
        epoch: int,
        step: str,
        viewpoint: int | None,
        result: Any,
        error: Exception | None,
    ) -> None:
        interrupted = self._epoch != epoch  # FAULTED/ABORTED already entered while the step ran
        stopping = interrupted or self.stop_requested.is_set()
        rec = self._record
        if error is not None:
            if stopping:  # expected: halt_motion makes a moving step raise
                self._note(f"{step} ended after the stop with {type(error).__name__}: {error}")
                self._persist_or_fault(state, viewpoint)
            else:
                where = f" at viewpoint {viewpoint}" if viewpoint is not None else ""
                self._halt_motion()
                message = f"{step}{where} failed: {describe_error(error)}"
                self._enter_fault("step_error", message, error, viewpoint)
            return
        try:
            nxt, message = self._apply_result(state, step, viewpoint, result)
        except (TypeError, ValueError) as exc:  # a step returned something unusable
            self._halt_motion()
            self._enter_fault("step_error", f"{step} returned an invalid result: {exc}", exc, viewpoint)
            return
        if stopping:
            # the step finished its work although a stop came meanwhile: keep the result (a stored
            # capture is never lost) and let resume continue after it
            if interrupted:
                if rec.state == S.FAULTED and nxt is not None:
                    rec.resume_state = nxt
            else:
                self._completed_next = nxt
            if self._persist_or_fault(state, viewpoint):
                self._notify("progress", rec.state, message)
        elif nxt is not None:
            self._transition(nxt, message)
        elif self._persist_or_fault(state, viewpoint):
            self._notify("progress", state, message)

    def _apply_result(
        self, state: CycleState, step: str, viewpoint: int | None, result: Any
    ) -> tuple[CycleState | None, str]:
        """Store a step's result; return (next state or None to stay, message)."""
        rec = self._record
        if step == "load":
            return S.SCANNING, "blade loaded"
        if step == "scan_viewpoint":
            assert viewpoint is not None
            if not isinstance(result, str) or not result:
                raise ValueError(
                    f"scan_viewpoint({viewpoint}) must return a non-empty capture reference, got {result!r}"
                )
            rec.capture_refs[viewpoint] = result
            return None, f"viewpoint {viewpoint + 1}/{rec.viewpoint_count} stored"
        if step == "needs_design":
            rec.needs_design = bool(result)
            return (S.DESIGNING if result else S.DETECTING), f"scan complete ({rec.viewpoint_count} captures)"
        if step == "design":
            if not isinstance(result, str) or not result:
                raise ValueError(f"design() must return a model reference, got {result!r}")
            rec.model_ref = result
            return S.DETECTING, f"model {result} designed"
        if step == "detect":
            if not isinstance(result, Detection):
                raise TypeError(f"detect() must return a Detection, got {type(result).__name__}")
            rec.detection = result
            return S.RECORDING, f"{result.defect_count} defects, {'reject' if result.reject else 'pass'}"
        if step == "record":
            if not isinstance(result, str) or not result:
                raise ValueError(f"record() must return a record reference, got {result!r}")
            rec.record_ref = result
            return S.UNLOADING, f"recorded as {result}"
        if step == "unload":
            return S.DONE, "blade unloaded to " + (
                "reject bin" if rec.detection and rec.detection.reject else "tray"
            )
        raise AssertionError(step)

    def _current_viewpoint(self, state: CycleState) -> int | None:
        return self._record.snapshot().next_viewpoint if state == S.SCANNING else None

    def _require_not_latched(self, command: str) -> None:
        if self._record.estop_latched:
            raise EStopLatchedError(
                f"cycle {self.cycle_id}: cannot {command} while the e-stop is latched; reset it first"
            )

    def _halt_motion(self) -> None:
        try:
            self.steps.halt_motion()
        except Exception:
            log.exception("cycle %s: halt_motion failed", self.cycle_id)

    def _enter_fault(
        self, kind: FaultKind, message: str, error: Exception | None, viewpoint: int | None
    ) -> None:
        state = self._record.state
        self._record.fault = Fault(
            kind=kind,
            state=state,
            message=message,
            time=self._clock(),
            error_type=type(error).__name__ if error is not None else None,
            viewpoint=viewpoint,
        )
        self._record.resume_state = self._completed_next or state
        self._transition(S.FAULTED, f"{kind}: {message}")

    def _transition(self, target: CycleState, reason: str) -> None:
        previous = self._record.state
        check_transition(previous, target)
        self._record.state = target
        self._epoch += 1
        self._completed_next = None
        self._note(reason, previous, target)
        self._persist_or_fault(target, None)
        self._notify("state", previous, reason)

    def _note(
        self, reason: str, previous: CycleState | None = None, target: CycleState | None = None
    ) -> None:
        entry: dict[str, Any] = {"time": self._clock(), "reason": reason}
        if previous is not None:
            entry.update({"from": str(previous), "to": str(target)})
        self._record.history.append(entry)

    def _persist(self) -> None:
        self.journal.save(self._record)

    def _persist_or_fault(self, state: CycleState, viewpoint: int | None) -> bool:
        """Write the journal; if that fails, halt and fault (in memory) rather than run on unjournaled."""
        try:
            self._persist()
            return True
        except JournalError as exc:
            log.error("cycle %s: %s", self.cycle_id, exc)
            self.stop_requested.set()
            self._halt_motion()
            if self._record.state not in TERMINAL_STATES and self._record.state != S.FAULTED:
                self._record.fault = Fault(
                    "journal", self._record.state, str(exc), self._clock(), "JournalError", viewpoint
                )
                self._record.resume_state = self._record.state
                previous, self._record.state = self._record.state, S.FAULTED
                self._epoch += 1
                self._note(f"journal: {exc}", previous, S.FAULTED)
                self._notify("state", previous, f"journal: {exc}")
            return False

    def _notify(self, kind: Literal["state", "progress"], previous: CycleState | None, message: str) -> None:
        event = CycleEvent(kind, self._record.snapshot(), previous if kind == "state" else None, message)
        self._changed.notify_all()
        for observer in list(self._observers):
            try:
                observer(event)
            except Exception:
                log.exception("cycle %s: observer %r failed", self.cycle_id, observer)
