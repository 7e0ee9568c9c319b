"""Retry with capped exponential back-off, interruptible: how the recorder waits out a
database outage without hammering the server or hanging a shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    initial_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 5.0
    max_wait_s: float = 0.0  # 0 = keep trying until cancelled

    def delays(self):
        delay = self.initial_s
        while True:
            yield delay
            delay = min(delay * self.factor, self.max_delay_s)


class RetryCancelled(RuntimeError):  # noqa: N818
    """The retry loop was cancelled (shutdown, goal cancelled) before it succeeded."""


def retry(
    call: Callable[[], T],
    retry_on: tuple[type[BaseException], ...],
    policy: RetryPolicy,
    *,
    cancel: threading.Event | None = None,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    retry_if: Callable[[BaseException], bool] | None = None,
) -> tuple[T, int]:
    """Call until it succeeds; returns (result, attempts). Errors not in `retry_on`, or for which
    `retry_if` says False (an exception class alone cannot tell a lost connection from a bad query),
    propagate at once; the last retryable error propagates when `max_wait_s` is exceeded."""
    cancel = cancel or threading.Event()
    start = clock()
    for attempt, delay in enumerate(policy.delays(), start=1):
        try:
            return call(), attempt
        except retry_on as exc:
            if retry_if is not None and not retry_if(exc):
                raise
            if policy.max_wait_s and clock() - start + delay > policy.max_wait_s:
                raise
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            if cancel.wait(delay):
                raise RetryCancelled(f"cancelled after {attempt} attempt(s): {exc}") from exc
    raise AssertionError("unreachable")  # pragma: no cover
