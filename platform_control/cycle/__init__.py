"""The inspection cycle: state machine, journal, and the cell's work in each state.

The package exports the state machine's names. The rest, imported from its module:
- `runner.CycleRunner`: one cell's cycles (new, resume, e-stop, abort), outcome and stage timings;
- `cell_steps.CellCycleSteps`: what each state does over `services.CellServices` (the protocol the ROS
  proxies, the in-process services and fakes implement) and the shapes crossing it;
- `motion.CellMotion`: stage moves, LOAD, UNLOAD (the simulator uses the same);
- `acceptance` (the verdict, made only there), `status` (progress fraction), `retry`,
  `design_progress`, `refs` (where a cycle's files live).
"""

from platform_control.cycle.journal import CycleJournal, JournalError
from platform_control.cycle.machine import CycleMachine
from platform_control.cycle.records import CycleEvent, CycleProgress, Detection, Fault
from platform_control.cycle.states import (
    ACTIVE_STATES,
    ALLOWED_TRANSITIONS,
    MOTION_STATES,
    TERMINAL_STATES,
    CycleState,
    EStopLatchedError,
    InvalidTransitionError,
)
from platform_control.cycle.steps import CycleSteps

__all__ = [
    "ACTIVE_STATES",
    "ALLOWED_TRANSITIONS",
    "MOTION_STATES",
    "TERMINAL_STATES",
    "CycleEvent",
    "CycleJournal",
    "CycleMachine",
    "CycleProgress",
    "CycleState",
    "CycleSteps",
    "Detection",
    "EStopLatchedError",
    "Fault",
    "InvalidTransitionError",
    "JournalError",
]
