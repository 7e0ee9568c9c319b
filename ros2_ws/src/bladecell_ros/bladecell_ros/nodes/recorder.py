"""Recorder node: the `record_cycle` action commits a finished cycle to the database.

The cycle (captures from their manifests, defects and predicted masks from the detections file) is
built by `bladecell_ros.services.recording.build_cycle_record` and written by
`database.services.CycleRecorder` in ONE transaction, idempotent on the cycle's UUID. While the
database is unreachable (`DatabaseUnavailableError`: nothing was written), the node retries with
capped exponential back-off, reporting each attempt as feedback, until it succeeds, the goal is
cancelled, or `max_wait_s` passes (0 = wait as long as it takes). Other errors (a record that does
not validate) fail at once. After each record the family's retrain/redesign triggers are evaluated in
the background (`services.model_watch`; `watch_models`).
"""

from __future__ import annotations

from typing import Any

from bladecell_interfaces.action import RecordCycle
from rclpy.action import ActionServer
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from bladecell_ros.services.capture_store import CaptureStore
from bladecell_ros.services.model_watch import ModelWatch
from bladecell_ros.services.recording import build_cycle_record
from bladecell_ros.transport.conversions import goal_to_record_request
from bladecell_ros.transport.goal_cancel import GoalCancels, end_unsucceeded
from bladecell_ros.transport.node_utils import data_home, param, run_nodes
from platform_control.cycle.retry import RetryPolicy, retry


class RecorderNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("recorder", **kwargs)
        from database.services import CycleRecorder

        self.cell_id = param(self, "cell_id", "cell-1", "this cell's name in the records")
        self.policy = RetryPolicy(
            initial_s=param(self, "retry_initial_s", 0.5, "first wait after a failed attempt"),
            max_delay_s=param(self, "retry_max_delay_s", 5.0, "longest wait between attempts"),
            max_wait_s=param(self, "max_wait_s", 0.0, "give up after this long (0: never)"),
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
        from database.errors import DatabaseUnavailableError

        goal = goal_handle.request
        result = RecordCycle.Result()

        def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
            message = f"database unreachable (attempt {attempt}), retrying in {delay:.1f} s: {exc}"
            self.get_logger().warning(message)
            goal_handle.publish_feedback(RecordCycle.Feedback(attempt=attempt, message=message))

        with self.cancels.track(goal_handle) as cancel:
            try:
                record = build_cycle_record(goal_to_record_request(goal), self.cell_id, self.store)
                done, attempts = retry(
                    lambda: self.recorder.record(record),
                    (DatabaseUnavailableError,),
                    self.policy,
                    cancel=cancel,
                    on_retry=on_retry,
                )
                result.success, result.record_id, result.created, result.attempts = (
                    True,
                    done.cycle_id,
                    done.created,
                    attempts,
                )
                result.message = (
                    f"cycle {goal.cycle_id} recorded as #{done.cycle_id}"
                    if done.created
                    else f"cycle {goal.cycle_id} was already recorded as #{done.cycle_id}"
                )
                self.get_logger().info(result.message + f" after {attempts} attempt(s)")
                goal_handle.succeed()
                if self.watch is not None:
                    self.watch.cycle_recorded(goal.part_family)
            except Exception as exc:
                result.message = f"recording failed: {type(exc).__name__}: {exc}"
                self.get_logger().error(result.message)
                end_unsucceeded(goal_handle, cancel)
        return result


def main(args: list[str] | None = None) -> None:
    run_nodes(lambda: [RecorderNode()], args, threads=2)


if __name__ == "__main__":
    main()
