"""Goal cancellation through the action server's cancel callback (`transport.goal_cancel.GoalCancels`):
the running goal's event is set at once, `on_cancel` runs once, a goal that is not running is left
alone, and a cancel that came before the execute callback is seen on entry. No node is started."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

pytest.importorskip("rclpy", reason="ROS 2 wheels not installed (run scripts/setup.sh)")


def _goal(cancel_requested: bool = False):
    return SimpleNamespace(
        goal_id=SimpleNamespace(uuid=list(uuid.uuid4().bytes)), is_cancel_requested=cancel_requested
    )


def test_cancel_callback_signals_the_running_goal_only() -> None:
    from bladecell_ros.transport.goal_cancel import GoalCancels
    from rclpy.action import CancelResponse

    stops: list[int] = []
    cancels = GoalCancels(on_cancel=lambda: stops.append(1))
    running, other = _goal(), _goal()
    with cancels.track(running) as event:
        assert not event.is_set()
        assert cancels.cancel_callback(other) == CancelResponse.ACCEPT
        assert not event.is_set() and stops == []  # another goal: nothing stops
        assert cancels.cancel_callback(running) == CancelResponse.ACCEPT
        assert event.is_set() and stops == [1]
        cancels.cancel_callback(running)
        assert stops == [1]  # a repeated request stops once
    cancels.cancel_callback(running)  # finished: forgotten
    assert stops == [1]


def test_a_cancel_before_the_execute_callback_is_seen_on_entry() -> None:
    from bladecell_ros.transport.goal_cancel import GoalCancels

    with GoalCancels().track(_goal(cancel_requested=True)) as event:
        assert event.is_set()


def test_an_unsucceeded_goal_ends_canceled_only_when_it_was_cancelled() -> None:
    import threading

    from bladecell_ros.transport.goal_cancel import end_unsucceeded

    ended: list[str] = []
    handle = SimpleNamespace(canceled=lambda: ended.append("canceled"), abort=lambda: ended.append("abort"))
    cancel = threading.Event()
    end_unsucceeded(handle, cancel)
    cancel.set()
    end_unsucceeded(handle, cancel)
    assert ended == ["abort", "canceled"]
