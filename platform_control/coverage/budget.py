"""Wall-clock budget of one planning run, shared out between its phases.

A plant cannot wait on a planner that may never finish: every phase asks the budget how long it may
take, and long phases check `expired` between chunks of work, so a run ends within its budget with
the best plan found so far.
"""

from __future__ import annotations

import time


class TimeBudget:
    """Seconds allowed from construction; ``None`` means unbounded."""

    def __init__(self, seconds: float | None) -> None:
        if seconds is not None and not seconds > 0:
            raise ValueError(f"time budget must be positive seconds or None, got {seconds}")
        self.seconds = seconds
        self._start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    @property
    def left(self) -> float:
        """Seconds left (infinity when unbounded, never negative)."""
        return float("inf") if self.seconds is None else max(0.0, self.seconds - self.elapsed)

    def expired(self, reserve: float = 0.0) -> bool:
        """True once fewer than ``reserve`` seconds are left (keep them for the phases still to come)."""
        return self.left <= reserve

    def deadline(self, fraction: float = 1.0) -> float | None:
        """`time.perf_counter()` value at which ``fraction`` of the time left is used up (None: unbounded)."""
        if self.seconds is None:
            return None
        return time.perf_counter() + fraction * self.left
