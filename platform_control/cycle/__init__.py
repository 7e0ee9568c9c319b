"""The inspection cycle state machine (see `machine.InspectionCycle`), its injected steps and journal."""

from platform_control.cycle.journal import CycleJournal, JournalError
from platform_control.cycle.machine import InspectionCycle
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
    "CycleProgress",
    "CycleState",
    "CycleSteps",
    "Detection",
    "EStopLatchedError",
    "Fault",
    "InspectionCycle",
    "InvalidTransitionError",
    "JournalError",
]
