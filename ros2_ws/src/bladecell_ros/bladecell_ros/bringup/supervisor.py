"""Supervision of a running cell: a node process that crashes is restarted, within a restart budget.

A plant cell must not stop because one node crashed once (a segfault in a driver, the OOM killer), nor
restart a node forever that crashes at once every time. `Supervisor.poll()` (called by `bladecell up`
twice a second) restarts a process that exited by itself after a back-off that doubles with each
restart in the window, and says so in one line; the `max_restarts + 1`-th crash within `window_s`
raises `OverBudgetError` (one line), and `up` stops the cell. Processes stopped on purpose (`CellGraph.kill`)
are left alone. The cycle that was running meanwhile ends FAULTED with the vanished node's name, or
carries on if it did not need that node; `bladecell inspect --resume` continues it.
"""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bladecell_ros.bringup.cell_graph import CellGraph, GraphError


@dataclass(frozen=True)
class RestartPolicy:
    """At most `max_restarts` restarts of one process within `window_s` seconds; the n-th restart in the
    window waits `backoff_s * 2**(n-1)` seconds, at most `max_backoff_s`."""

    max_restarts: int = 3
    window_s: float = 60.0
    backoff_s: float = 1.0
    max_backoff_s: float = 8.0

    def __post_init__(self) -> None:
        if self.max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {self.max_restarts}")
        if self.window_s <= 0 or self.backoff_s < 0 or self.max_backoff_s < self.backoff_s:
            raise ValueError(
                f"need window_s > 0 and 0 <= backoff_s <= max_backoff_s, got {self.window_s}, "
                f"{self.backoff_s}, {self.max_backoff_s}"
            )


class RestartBudget:
    """The restarts of one process in the sliding window."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self._times: deque[float] = deque()

    def in_window(self, now: float) -> int:
        while self._times and self._times[0] <= now - self.policy.window_s:
            self._times.popleft()
        return len(self._times)

    def next_delay(self, now: float) -> float | None:
        """Seconds to wait before the next restart, or None when the budget is spent."""
        used = self.in_window(now)
        if used >= self.policy.max_restarts:
            return None
        return min(self.policy.max_backoff_s, self.policy.backoff_s * 2**used)

    def spend(self, now: float) -> None:
        self._times.append(now)


class OverBudgetError(GraphError):
    """A process crashed more often than its restart budget allows: the cell has to stop."""


def describe_exit(code: int) -> str:
    """'exit code 3' / 'killed by SIGKILL' (Popen reports a signal as a negative code)."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Supervisor:
    """Restarts crashed processes of `graph` (see the module docstring); `log` gets one line each."""

    def __init__(
        self,
        graph: CellGraph,
        policy: RestartPolicy = RestartPolicy(),
        log: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.graph = graph
        self.policy = policy
        self.log = log
        self.clock = clock
        self.budgets: dict[str, RestartBudget] = {}
        self.due: dict[str, float] = {}
        self.restarts: dict[str, int] = {}

    def poll(self) -> list[str]:
        """Schedule crashed processes for a restart and restart those whose back-off is over; returns
        the names restarted now. Raises `OverBudgetError` for a process over its budget."""
        now = self.clock()
        restarted = []
        for name, code in self.graph.dead().items():
            if name in self.graph.killed:
                continue
            if name not in self.due:
                budget = self.budgets.setdefault(name, RestartBudget(self.policy))
                delay = budget.next_delay(now)
                p = self.policy
                if delay is None:
                    raise OverBudgetError(
                        f"{name} crashed {p.max_restarts + 1} times within {p.window_s:.0f} s "
                        f"(last: {describe_exit(code)}); stopping the cell. Log: {self.graph.log_path(name)}"
                    )
                self.due[name] = now + delay
                self.log(
                    f"{name} crashed ({describe_exit(code)}); restarting it in {delay:.0f} s "
                    f"(restart {budget.in_window(now) + 1} of {p.max_restarts} allowed in "
                    f"{p.window_s:.0f} s). Log: {self.graph.log_path(name)}"
                )
            if now >= self.due[name]:
                del self.due[name]
                self.budgets[name].spend(now)
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self.graph.restart(name)
                restarted.append(name)
        return restarted
