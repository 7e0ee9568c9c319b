"""The cell watches its deployed models (issue 18): the retrain/redesign triggers are evaluated by the
cell itself, not only when someone runs `bladecell model check`.

* When the detector loads a model, it times it on its own device the way the design did
  (`autonad_core.pipeline.measure_latency`: batch 1 at the model's input size). That happens at once,
  before the model's first capture, so nothing else of the cycle runs on the detector meanwhile and the
  figure compares like with like.
* After every recorded cycle, and after such a measurement, the family's triggers are evaluated
  (`database.services.model_life.assess`) and the result is recorded: the API, the web page and
  `bladecell status` show the flag with its figures.

Evaluations run on one background thread so neither the detector nor the recorder waits for them; a
family already waiting is not queued twice. A failed evaluation (database away, no deployed model) is
logged and dropped: the next cycle evaluates again. Nothing here starts a design.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

Log = Callable[[str], None]
LatencyTimer = Callable[[Path, str], float]


def _measure_latency(model_dir: Path, device: str) -> float:
    from autonad_core.pipeline import measure_latency

    return measure_latency(model_dir, device)


def _quiet(message: str) -> None:
    return None


class ModelWatch:
    """Records trigger evaluations for part families; see the module docstring."""

    def __init__(
        self,
        home: Path,
        target: Any = None,
        *,
        device: str = "cpu",
        log: Log = _quiet,
        timer: LatencyTimer = _measure_latency,
    ) -> None:
        from database.services.registry import session_factory_for

        self.home = Path(home)
        self.factory = session_factory_for(target)
        self.device, self.log, self.timer = device, log, timer
        self._jobs: queue.Queue[tuple[str, float | None] | None] = queue.Queue()
        self._waiting: set[str] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self._thread = threading.Thread(target=self._work, name="model-watch", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------ events
    def model_loaded(self, family: str, version: str, model_dir: Path) -> None:
        """The detector loaded ``version`` for ``family``: time it now, evaluate in the background."""
        try:
            latency = float(self.timer(Path(model_dir), self.device))
        except Exception as exc:  # a model that cannot be timed still detects; say so
            self.log(f"model watch: could not time {version} on {self.device}: {exc}")
            latency = None
        self._submit(family, latency)

    def cycle_recorded(self, family: str) -> None:
        """A cycle of ``family`` was recorded: evaluate its triggers in the background."""
        self._submit(family, None)

    # --------------------------------------------------------------------------- internals
    def _submit(self, family: str, latency: float | None) -> None:
        with self._lock:
            if latency is None and family in self._waiting:
                return  # an evaluation of this family is already waiting: it will see this cycle
            self._waiting.add(family)
            self._busy += 1
        self._jobs.put((family, latency))

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            family, latency = job
            with self._lock:
                self._waiting.discard(family)
            try:
                self._assess(family, latency)
            except Exception as exc:
                self.log(f"model watch: {family}: triggers not evaluated: {exc}")
            finally:
                with self._lock:
                    self._busy -= 1
                    self._idle.notify_all()

    def _assess(self, family: str, latency: float | None) -> None:
        from database.services import model_life
        from database.services.registry import deployed_for
        from database.services.transactions import unit_of_work
        from database.storage import ContentStore

        with unit_of_work(self.factory, immediate=True) as session:
            if deployed_for(session, family) is None:
                return  # nothing deployed yet (the first design is still to come)
            row = model_life.assess(
                session,
                ContentStore(self.home),
                family,
                measured_latency_ms=latency,
                latency_device=self.device if latency is not None else "",
            )
            if row.level != "ok":
                version = row.figures.get("model_version")
                self.log(f"model watch: {family} {version}: {row.level}: {'; '.join(row.reasons)}")

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every submitted evaluation has finished (tests, shutdown); False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def close(self) -> None:
        self._jobs.put(None)
