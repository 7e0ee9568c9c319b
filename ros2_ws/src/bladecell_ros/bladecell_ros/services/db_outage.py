"""Riding out a short outage of the records database on the cycle's path (issue 16).

Why: a plant's database drops off the network or restarts for a few seconds now and then; a cycle that
FAULTs at once for that (the registry lookup of needs_design did) leaves a blade on the fixture for a
technician. Every database call a cycle makes goes through `OutageGuard.call`: connection-level errors
(`is_outage`) are retried with capped back-off (`platform_control.cycle.retry`, the one retry mechanism)
for up to `tolerance_s`, saying one line per attempt through the cycle's notify; anything else (an
integrity or programming error, a record that does not validate) propagates at once. After the
tolerance the call raises `DatabaseOutageError`, whose one-line message names the database and what to
do; the cycle FAULTs with it and `--resume` continues where it stopped.

Only calls that are safe to repeat may be guarded: reads, and writes that are idempotent (the recorder,
keyed on the cycle's UUID; deploy; the designer's registration, which checks what a lost commit left).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from platform_control.cycle.retry import RetryPolicy, retry

log = logging.getLogger(__name__)
T = TypeVar("T")
Notify = Callable[[str], None]

#: seconds a cycle waits for the records database before it FAULTs (`db_outage_tolerance_s`)
DEFAULT_TOLERANCE_S = 60.0
#: ROS parameter name, the same in every node that touches the database (one `/**` entry sets it)
TOLERANCE_PARAM = "db_outage_tolerance_s"
#: how every "still waiting" line starts (callers that count attempts look for it)
WAITING = "records database unreachable (attempt"


class DatabaseOutageError(RuntimeError):
    """The records database stayed unreachable past the tolerance; the failed call wrote nothing."""


def is_outage(exc: BaseException) -> bool:
    """True for 'the database cannot be reached right now': a lost or refused connection, a locked
    SQLite file, an exhausted pool; False for integrity, programming and validation errors."""
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    from database.errors import DatabaseUnavailableError
    from database.services.transactions import is_unavailable

    return isinstance(exc, DatabaseUnavailableError | PoolTimeoutError) or is_unavailable(exc)


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An error as one short line (psycopg's messages span several lines)."""
    text = " ".join(str(getattr(exc, "orig", None) or exc).split())
    name = type(getattr(exc, "orig", None) or exc).__name__
    text = f"{name}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class OutageGuard:
    """Retries database calls through an outage of up to ``tolerance_s`` (0: fail at the first error)."""

    tolerance_s: float = DEFAULT_TOLERANCE_S
    initial_s: float = 0.5
    max_delay_s: float = 5.0
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.tolerance_s < 0 or self.initial_s <= 0 or self.max_delay_s <= 0:
            raise ValueError(
                f"{TOLERANCE_PARAM} must be >= 0 and the retry delays > 0, got {self.tolerance_s}, "
                f"{self.initial_s}, {self.max_delay_s}"
            )

    def call(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        notify: Notify | None = None,
        cancel: threading.Event | None = None,
    ) -> T:
        """``fn()``, waiting out an outage; ``what`` says in the lines what the cycle was doing.
        Raises `DatabaseOutageError` past the tolerance, `RetryCancelled` when ``cancel`` is set."""
        start = self.clock()
        say = notify or (lambda message: None)

        def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
            line = (
                f"{WAITING} {attempt}) while {what}; retrying in {delay:.1f} s, "
                f"up to {self.tolerance_s:g} s: {one_line(exc)}"
            )
            log.warning(line)
            say(line)

        policy = RetryPolicy(self.initial_s, 2.0, self.max_delay_s, max_wait_s=self.tolerance_s)
        try:
            if self.tolerance_s == 0:
                result, attempts = fn(), 1
            else:
                result, attempts = retry(
                    fn,
                    (Exception,),
                    policy,
                    cancel=cancel,
                    on_retry=on_retry,
                    clock=self.clock,
                    retry_if=is_outage,
                )
        except Exception as exc:
            if not is_outage(exc):
                raise
            raise DatabaseOutageError(
                f"records database unreachable for {self.clock() - start:.1f} s while {what} "
                f"(tolerance {TOLERANCE_PARAM} = {self.tolerance_s:g} s; {one_line(exc)}); nothing was "
                "lost: bring the database back (server, network, BLADECELL_DATABASE_URL), then resume "
                "the cycle (bladecell inspect --serial SERIAL --resume)"
            ) from exc
        if attempts > 1:
            line = f"records database back after {self.clock() - start:.0f} s; {what} done"
            log.info(line)
            say(line)
        return result
