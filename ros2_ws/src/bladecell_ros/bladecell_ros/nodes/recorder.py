"""Recorder node: the `record_cycle` action commits a finished cycle to the database.

The cycle (captures from their manifests, defects and predicted masks from the detections file) is
built by `bladecell_ros.services.recording.build_cycle_record` and written by
`database.services.CycleRecorder` in ONE transaction, idempotent on the cycle's UUID. While the
database is unreachable (a connection-level error: nothing was written), the node retries with capped
exponential back-off (`services.db_outage.OutageGuard`), reporting each attempt as feedback, until it
succeeds, the goal is cancelled, or `db_outage_tolerance_s` passes (the cell's one outage tolerance;
then the goal fails with one line naming the database and what to do, and the resumed cycle records
it). Other errors (a record that does not validate) fail at once. After each record the family's
retrain/redesign triggers are evaluated in the background (`services.model_watch`; `watch_models`).
"""

from __future__ import annotations

from typing import Any

from bladecell_interfaces.action import RecordCycle
from rclpy.action import ActionServer
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from bladecell_ros.services.capture_store import CaptureStore
from bladecell_ros.services.db_outage import WAITING, DatabaseOutageError
from bladecell_ros.services.model_watch import ModelWatch
from bladecell_ros.services.recording import build_cycle_record
from bladecell_ros.transport.conversions import goal_to_record_request
from bladecell_ros.transport.goal_cancel import GoalCancels, end_unsucceeded
from bladecell_ros.transport.node_utils import data_home, outage_guard, param, run_nodes


class RecorderNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("recorder", **kwargs)
        from database.services import CycleRecorder

        self.cell_id = param(self, "cell_id", "cell-1", "this cell's name in the records")
        self.outage = outage_guard(
            self,
            initial_s=param(self, "retry_initial_s", 0.5, "first wait after a failed attempt"),
            max_delay_s=param(self, "retry_max_delay_s", 5.0, "longest wait between attempts"),
        )
        self.store = CaptureStore(data_home())
        self.recorder = CycleRecorder()
        self.watch = (
            ModelWatch(data_home(), log=self.get_logger().warning)
            if param(self, "watch_models", True, "evaluate the family's triggers after each record")
            else None
        )
        self.cancels = GoalCancels()
        ActionServer(
            self,
            RecordCycle,
            "record_cycle",
            execute_callback=self._execute,
            cancel_callback=self.cancels.cancel_callback,
            callback_group=ReentrantCallbackGroup(),
        )
        self.get_logger().info("recorder ready")

    def _execute(self, goal_handle) -> RecordCycle.Result:
        goal = goal_handle.request
        result = RecordCycle.Result()
        attempts = [1]

        def on_line(message: str) -> None:  # the guard logs the line itself
            if message.startswith(WAITING):
                attempts[0] += 1
            goal_handle.publish_feedback(RecordCycle.Feedback(attempt=attempts[0], message=message))

        with self.cancels.track(goal_handle) as cancel:
            try:
                record = build_cycle_record(goal_to_record_request(goal), self.cell_id, self.store)
                done = self.outage.call(
                    f"recording cycle {goal.cycle_id}",
                    lambda: self.recorder.record(record),
                    notify=on_line,
                    cancel=cancel,
                )
                result.success, result.record_id, result.created, result.attempts = (
                    True,
                    done.cycle_id,
                    done.created,
                    attempts[0],
                )
                result.message = (
                    f"cycle {goal.cycle_id} recorded as #{done.cycle_id}"
                    if done.created
                    else f"cycle {goal.cycle_id} was already recorded as #{done.cycle_id}"
                )
                self.get_logger().info(result.message + f" after {attempts[0]} attempt(s)")
                goal_handle.succeed()
                if self.watch is not None:
                    self.watch.cycle_recorded(goal.part_family)
            except Exception as exc:
                # the cycle's fault line already says the record step failed: the outage's own line
                # (database, tolerance, what to do) goes as it is, other errors with their type
                result.message = (
                    str(exc) if isinstance(exc, DatabaseOutageError) else f"{type(exc).__name__}: {exc}"
                )
                self.get_logger().error(result.message)
                end_unsucceeded(goal_handle, cancel)
        return result


def main(args: list[str] | None = None) -> None:
    run_nodes(lambda: [RecorderNode()], args, threads=2)


if __name__ == "__main__":
    main()
