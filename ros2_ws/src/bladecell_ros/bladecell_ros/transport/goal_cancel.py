"""Goal cancellation through the action server's cancel callback: no watcher thread, no polling.

Why: rclpy calls an action server's `cancel_callback` on an executor thread as soon as a client asks
to cancel a goal. Setting that goal's event there (and, for a drive, stopping it) reaches the running
execute callback at once; a thread per goal that polled `goal_handle.is_cancel_requested` is not
needed. An execute callback wraps its work in `with cancels.track(goal_handle) as cancel:` and passes
`cancel` (a `threading.Event`) to the library call that can give up early.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rclpy.action import CancelResponse


def _key(goal_handle: Any) -> bytes:
    return bytes(goal_handle.goal_id.uuid)


class GoalCancels:
    """The cancel events of an action server's running goals; `cancel_callback` is the server's."""

    def __init__(self, on_cancel: Callable[[], None] | None = None) -> None:
        self.on_cancel = on_cancel
        self._events: dict[bytes, threading.Event] = {}
        self._lock = threading.Lock()

    def cancel_callback(self, goal_handle: Any) -> CancelResponse:
        """Accept the cancel request and signal the goal's execute callback (and `on_cancel`)."""
        with self._lock:
            event = self._events.get(_key(goal_handle))
        if event is not None and not event.is_set():
            event.set()
            if self.on_cancel is not None:
                self.on_cancel()
        return CancelResponse.ACCEPT

    @contextmanager
    def track(self, goal_handle: Any) -> Iterator[threading.Event]:
        """The goal's cancel event while its execute callback runs (already set if a cancel came first)."""
        event = threading.Event()
        if goal_handle.is_cancel_requested:
            event.set()
        with self._lock:
            self._events[_key(goal_handle)] = event
        try:
            yield event
        finally:
            with self._lock:
                self._events.pop(_key(goal_handle), None)


def end_unsucceeded(goal_handle: Any, cancel: threading.Event) -> None:
    """End a goal that did not succeed: CANCELED when it was cancelled, else ABORTED."""
    if cancel.is_set():
        goal_handle.canceled()
    else:
        goal_handle.abort()
