"""The database's cycle request queue (requests made through the web API) -> cycles on the runner.

Why here: it combines `database.services.CycleQueue` with `platform_control.cycle.runner`; the
coordinator node only calls `poll()` from a timer. A claimed request is marked running and submitted
to the runner; when its cycle ends without a record (recording marks the request done itself) it is
marked failed from the runner's future callback, so no thread waits per request.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from platform_control.cycle.runner import CycleOutcome, CycleRunner, new_cycle_id
from platform_control.cycle.services import CycleJob

log = logging.getLogger(__name__)


def job_of_request(request: Any) -> CycleJob:
    """A new cycle's job from a claimed queue entry (`database.services.CycleQueue.claim_next`)."""
    options = request.options or {}
    return CycleJob(
        cycle_id=new_cycle_id(),
        blade_serial=request.blade_serial,
        part_family=request.part_family,
        operator=request.requested_by or "",
        request_uuid=str(request.request_uuid),
        force_redesign=bool(options.get("force_redesign", False)),
    )


class QueuedRequests:
    """Claims the next request for this cell when the cell is free and runs it on the runner."""

    def __init__(
        self,
        queue: Any,
        runner: CycleRunner,
        cell_id: str,
        *,
        blocked: Callable[[], bool] = lambda: False,
        submit: Callable[[CycleJob], Future[CycleOutcome]] | None = None,
    ) -> None:
        self.queue = queue
        self.runner = runner
        self.cell_id = cell_id
        self.blocked = blocked
        self.submit = submit or (lambda job: runner.submit(job))
        self.queue_down = False  # warn once per outage, not on every poll

    def poll(self) -> CycleJob | None:
        """Start the next queued request if the cell is idle; the job started, or None."""
        runner = self.runner
        if runner.busy or runner.pending or runner.estop_latched or self.blocked():
            return None
        try:
            request = self.queue.claim_next(self.cell_id)
        except Exception as exc:  # database down: keep running, poll again later
            if not self.queue_down:
                log.warning("request queue unavailable: %s", exc)
            self.queue_down = True
            return None
        if self.queue_down:
            log.info("request queue reachable again")
            self.queue_down = False
        if request is None:
            return None
        job = job_of_request(request)
        log.info("claimed request %s: inspect %s", request.request_uuid, job.blade_serial)
        try:
            self.queue.mark_running(request.request_uuid, self.cell_id, progress=f"cycle {job.cycle_id}")
        except Exception as exc:
            log.error("cannot start request %s: %s", request.request_uuid, exc)
            return None
        future = self.submit(job)
        future.add_done_callback(lambda f: self._finish(f, request.request_uuid))
        return job

    def _finish(self, future: Future[CycleOutcome], request_uuid: uuid.UUID) -> None:
        error = future.exception()
        out = None if error is not None else future.result()
        if out is not None and out.final_state == "DONE" and out.record_id is not None:
            return  # recording the cycle already marked the request done
        if error is not None:
            message = f"{type(error).__name__}: {error}"
        else:
            message = f"cycle {out.final_state}: {out.message}" if out else "not run"
        try:
            self.queue.mark_failed(request_uuid, self.cell_id, message[:500])
        except Exception as exc:
            log.warning("cannot mark request %s failed: %s", request_uuid, exc)
