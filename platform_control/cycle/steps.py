"""The work of each cycle state, injected as callables so one state machine drives the simulator, the
ROS nodes or test fakes.

Contract for the callables (they run on the thread that calls `CycleMachine.run`):

* Each may raise any `Exception` to fault the cycle; the machine records it and halts motion.
* `scan_viewpoint(i)` returns only after capture ``i`` is stored durably, and returns its reference
  (content hash, database id, path); the machine journals it immediately, so it is never re-scanned.
* Steps can be re-run after a fault or crash (resume re-enters the interrupted state), so `load`,
  `unload` and `record` must check where the blade / the record already is (`record` gets the cycle id).
* `halt_motion` is called from *any* thread (e-stop, abort) while a step may be running; it must stop
  the arm and stage at once and make the running step return or raise promptly. Long non-motion steps
  (design, detect) may poll `CycleMachine.stop_requested` to give up early.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from platform_control.cycle.records import CycleProgress, Detection


def _never() -> bool:
    return False


@dataclass(frozen=True)
class CycleSteps:
    """The callables behind each state.

    load(): LOADING, tray → stage fixture.
    scan_viewpoint(i) -> capture ref: SCANNING, move the stage to viewpoint i and capture all channels.
    needs_design() -> bool: whether DESIGNING is needed (no deployed model for the part family).
    design() -> model ref: DESIGNING (AutoNAD); required if needs_design() can return True.
    detect(capture_refs, model_ref) -> Detection: DETECTING; model_ref None = the deployed model.
    record(progress) -> record ref: RECORDING, commit the cycle in one transaction.
    unload(reject): UNLOADING, stage → tray (False) or reject bin (True).
    halt_motion(): stop arm and stage immediately (e-stop / abort), from any thread.
    """

    load: Callable[[], None]
    scan_viewpoint: Callable[[int], str]
    detect: Callable[[Sequence[str], str | None], Detection]
    record: Callable[[CycleProgress], str]
    unload: Callable[[bool], None]
    halt_motion: Callable[[], None]
    needs_design: Callable[[], bool] = _never
    design: Callable[[], str] | None = None
