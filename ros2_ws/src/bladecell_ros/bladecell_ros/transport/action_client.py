"""rclpy's action client with a goal's answer held back until the goal's send has registered it.

Why: rclpy 9.1.2's `ActionClient.send_goal_async` registers the goal's future twice: once under the
client's lock and again after releasing it (pending request, goal id, done callback, the waitable's
future list: in that order). An executor thread that takes the goal's answer in that gap (the caller's
thread descheduled for a GIL slice on a loaded host) does one of two wrong things:

* it completes the first, abandoned future: the caller waits `connect_timeout` for an answer that
  already came, while the goal runs;
* it completes the second future before its done callback was added: `add_done_callback` then runs
  the callback at once on the caller's thread, which removes the future from the waitable's list
  before `send_goal_async` has added it, and the send raises `ValueError: list.remove(x): x not in
  list`. That is the message one warm-up cycle of a fault campaign FAULTed with in UNLOAD (issue 16):
  a pick-and-place sends a trajectory goal per segment, each one a chance.

`ActionClient` here holds `_sending` for the whole send and the executor takes it before it hands a
goal answer on, so an answer always finds its goal's registration complete. The first, abandoned
future of each send is taken off the waitable's list too: it never completes, and the executor walks
that list on every answer the client gets (one more per goal sent, for the life of the process).
"""

from __future__ import annotations

import threading
from typing import Any

from rclpy.action import ActionClient as RclpyActionClient


class ActionClient(RclpyActionClient):
    """`rclpy.action.ActionClient` whose goal answers wait for their send to finish registering."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # rclpy adds the client to its node's waitables before it creates `_lock`, so an executor that
        # already spins the node could ask for its entities in between and die on AttributeError (seen
        # in tests/ros/test_action_proxy.py); rclpy replaces this lock a moment later, nothing pending
        self._lock = threading.Lock()
        super().__init__(*args, **kwargs)
        self._sending = threading.Lock()

    def send_goal_async(self, goal: Any, feedback_callback: Any = None, goal_uuid: Any = None) -> Any:
        with self._sending:
            before = {id(f) for f in self._futures}
            future = super().send_goal_async(goal, feedback_callback=feedback_callback, goal_uuid=goal_uuid)
            for stale in self._abandoned(before, future):
                self.remove_future(stale)
            return future

    def _abandoned(self, before: set[int], sent: Any) -> list[Any]:
        """Futures the send added besides `sent` that no request is waiting on (rclpy's first one)."""
        waiting = [
            *self._pending_goal_requests.values(),
            *self._pending_result_requests.values(),
            *self._pending_cancel_requests.values(),
        ]
        return [
            f
            for f in list(self._futures)
            if id(f) not in before and f is not sent and not any(f is w for w in waiting)
        ]

    async def execute(self, taken_data: Any) -> None:
        if "goal" in taken_data:
            with self._sending:  # the send of this answer's goal has registered its future by now
                pass
        await super().execute(taken_data)
