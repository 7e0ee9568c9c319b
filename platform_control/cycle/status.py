"""One progress fraction for a whole cycle, for the technician's bar and CellStatus.

States get shares of the bar by their typical duration on the simulated cell (scanning and, when it
happens, designing dominate); scanning advances per stored capture. DONE is 1.0; a FAULTED or ABORTED
cycle keeps the fraction it reached.
"""

from __future__ import annotations

from platform_control.cycle.records import CycleProgress
from platform_control.cycle.states import CycleState

S = CycleState
_SHARES_NO_DESIGN = {
    S.LOADING: 0.10,
    S.SCANNING: 0.55,
    S.DETECTING: 0.15,
    S.RECORDING: 0.05,
    S.UNLOADING: 0.15,
}
_SHARES_DESIGN = {
    S.LOADING: 0.04,
    S.SCANNING: 0.20,
    S.DESIGNING: 0.60,
    S.DETECTING: 0.06,
    S.RECORDING: 0.03,
    S.UNLOADING: 0.07,
}
ORDER = (S.LOADING, S.SCANNING, S.DESIGNING, S.DETECTING, S.RECORDING, S.UNLOADING)


def cycle_fraction(progress: CycleProgress, state: CycleState | None = None, within: float = 0.0) -> float:
    """Fraction of the cycle done. ``state`` = the state being worked on (default: the cycle's; for
    FAULTED, the interrupted one), ``within`` = progress inside it (0..1; scanning uses the captures)."""
    state = state or progress.state
    if state == S.DONE:
        return 1.0
    if state in (S.FAULTED, S.ABORTED, S.IDLE):
        if progress.fault is not None:
            state = progress.fault.state
        elif state == S.IDLE:
            return 0.0
    designing = bool(progress.force_design or progress.needs_design or progress.model_ref)
    shares = _SHARES_DESIGN if designing else _SHARES_NO_DESIGN
    if state not in shares:
        return 0.0
    done = sum(shares[s] for s in ORDER[: ORDER.index(state)] if s in shares)
    if state == S.SCANNING:
        within = progress.scan_fraction
    return round(min(1.0, done + shares[state] * min(max(within, 0.0), 1.0)), 4)
