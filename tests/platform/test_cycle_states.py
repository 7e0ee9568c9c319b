"""The transition table: every pair of states is either allowed or refused with a clear error."""

from __future__ import annotations

import itertools

import pytest

from platform_control.cycle import ALLOWED_TRANSITIONS, TERMINAL_STATES, CycleState, InvalidTransitionError
from platform_control.cycle.states import ACTIVE_STATES, check_transition

S = CycleState
FLOW = [S.IDLE, S.LOADING, S.SCANNING, S.DESIGNING, S.DETECTING, S.RECORDING, S.UNLOADING, S.DONE]


def _expected_allowed(a: CycleState, b: CycleState) -> bool:
    if a in TERMINAL_STATES:
        return False
    if b == S.ABORTED:
        return True
    if b == S.FAULTED:
        return a != S.FAULTED
    if a == S.FAULTED:
        return b == S.IDLE or b in ACTIVE_STATES  # resume into the interrupted state
    if (a, b) == (S.SCANNING, S.DETECTING):  # design skipped: a deployed model exists
        return True
    return a in FLOW and b in FLOW and FLOW.index(b) == FLOW.index(a) + 1


@pytest.mark.parametrize(("a", "b"), list(itertools.product(CycleState, CycleState)))
def test_every_pair_of_states(a: CycleState, b: CycleState) -> None:
    allowed = _expected_allowed(a, b)
    assert (b in ALLOWED_TRANSITIONS[a]) == allowed
    if allowed:
        check_transition(a, b)
    else:
        with pytest.raises(InvalidTransitionError, match=f"from {a} to {b}"):
            check_transition(a, b)


def test_table_covers_every_state_and_terminal_states_are_final() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(CycleState)
    for state in TERMINAL_STATES:
        assert ALLOWED_TRANSITIONS[state] == frozenset()
    for state in set(CycleState) - TERMINAL_STATES:
        assert S.ABORTED in ALLOWED_TRANSITIONS[state]
