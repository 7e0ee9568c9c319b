"""States of an inspection cycle and the transitions allowed between them.

IDLE → LOADING → SCANNING → [DESIGNING] → DETECTING → RECORDING → UNLOADING → DONE. Any state that is
not finished can go to FAULTED (a step failed, an e-stop, a controller crash) or ABORTED (the operator
gave up on the cycle). FAULTED goes back to the state it interrupted on `resume`, or to ABORTED.
"""

from __future__ import annotations

from enum import StrEnum


class CycleState(StrEnum):
    IDLE = "IDLE"
    LOADING = "LOADING"
    SCANNING = "SCANNING"
    DESIGNING = "DESIGNING"
    DETECTING = "DETECTING"
    RECORDING = "RECORDING"
    UNLOADING = "UNLOADING"
    DONE = "DONE"
    FAULTED = "FAULTED"
    ABORTED = "ABORTED"


S = CycleState
#: States in which a step runs (the cycle is "in progress").
ACTIVE_STATES: frozenset[CycleState] = frozenset(
    {S.LOADING, S.SCANNING, S.DESIGNING, S.DETECTING, S.RECORDING, S.UNLOADING}
)
#: States whose step moves the arm or the stage.
MOTION_STATES: frozenset[CycleState] = frozenset({S.LOADING, S.SCANNING, S.UNLOADING})
#: States a cycle never leaves.
TERMINAL_STATES: frozenset[CycleState] = frozenset({S.DONE, S.ABORTED})

_FLOW: dict[CycleState, frozenset[CycleState]] = {
    S.IDLE: frozenset({S.LOADING}),
    S.LOADING: frozenset({S.SCANNING}),
    S.SCANNING: frozenset({S.DESIGNING, S.DETECTING}),
    S.DESIGNING: frozenset({S.DETECTING}),
    S.DETECTING: frozenset({S.RECORDING}),
    S.RECORDING: frozenset({S.UNLOADING}),
    S.UNLOADING: frozenset({S.DONE}),
    S.FAULTED: frozenset({S.IDLE, *ACTIVE_STATES}),
    S.DONE: frozenset(),
    S.ABORTED: frozenset(),
}

#: Every allowed transition: the normal flow, plus FAULTED/ABORTED from every unfinished state.
ALLOWED_TRANSITIONS: dict[CycleState, frozenset[CycleState]] = {
    state: nxt
    if state in TERMINAL_STATES
    else nxt | {S.ABORTED} | ({S.FAULTED} if state != S.FAULTED else set())
    for state, nxt in _FLOW.items()
}


class InvalidTransitionError(RuntimeError):
    """A command that the cycle's current state does not allow (e.g. abort a finished cycle)."""


class EStopLatchedError(RuntimeError):
    """A command that needs the e-stop latch released first (`CycleMachine.reset_estop`)."""


def check_transition(current: CycleState, target: CycleState) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "none (finished)"
        raise InvalidTransitionError(f"cycle cannot go from {current} to {target}; allowed: {allowed}")
