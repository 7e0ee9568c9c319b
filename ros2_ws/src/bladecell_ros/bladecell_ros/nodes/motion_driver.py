"""Arm and stage driver nodes: a `MotionDriver` (simulated or real) behind ROS 2 interfaces.

Interfaces (``<device>`` = arm | stage):
    <device>/follow_trajectory   action  FollowTrajectory: one goal at a time; cancel = controlled stop
    <device>/joint_states        topic   sensor_msgs/JointState at `joint_state_rate_hz`
    <device>/stop                service std_srvs/Trigger: halt now and latch (the coordinator's abort)
    <device>/reset               service std_srvs/Trigger: release the latch (refused while e-stop held)
    estop                        topic   std_msgs/Bool (latched QoS, `ESTOP_QOS`): true halts and latches
    arm/gripper                  service GripperCommand (arm only)
"""

from __future__ import annotations

import threading
import time

from bladecell_interfaces.action import FollowTrajectory
from bladecell_interfaces.srv import GripperCommand
from rclpy.action import ActionServer, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from bladecell_ros.transport.conversions import msg_to_trajectory
from bladecell_ros.transport.goal_cancel import GoalCancels
from bladecell_ros.transport.node_utils import ESTOP_QOS, ESTOP_TOPIC, param
from platform_control.hardware import (
    DeviceUnreachable,
    EStopActive,
    Gripper,
    HardwareError,
    HardwareFault,
    LimitViolation,
    MotionDriver,
)


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, EStopActive):
        return "estop"
    if isinstance(exc, LimitViolation):
        return "limit"
    if isinstance(exc, DeviceUnreachable):
        return "unreachable"
    if isinstance(exc, HardwareFault | HardwareError):
        return "fault"
    return "invalid"


class MotionDriverNode(Node):
    """Follows trajectories on ``driver``; ``gripper`` adds the gripper service (the arm)."""

    def __init__(
        self, node_name: str, device: str, driver: MotionDriver, gripper: Gripper | None = None, **kwargs
    ) -> None:
        super().__init__(node_name, **kwargs)
        self.device = device
        self.driver = driver
        self.gripper = gripper
        rate = param(self, "joint_state_rate_hz", 20.0, "joint state publishing rate")
        self.feedback_period = 1.0 / param(self, "feedback_rate_hz", 10.0, "trajectory feedback rate")
        self._busy = threading.Lock()
        self._goal_lock = threading.Lock()
        self.estop_held = False
        self.cancels = GoalCancels(on_cancel=self.driver.stop)  # a cancel request stops the drive
        motion = ReentrantCallbackGroup()
        control = MutuallyExclusiveCallbackGroup()
        self.joint_pub = self.create_publisher(JointState, f"{device}/joint_states", 10)
        self.create_timer(1.0 / rate, self._publish_joint_state, callback_group=control)
        self.action = ActionServer(
            self,
            FollowTrajectory,
            f"{device}/follow_trajectory",
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=self.cancels.cancel_callback,
            callback_group=motion,
        )
        self.create_subscription(Bool, ESTOP_TOPIC, self._on_estop, ESTOP_QOS, callback_group=control)
        self.create_service(Trigger, f"{device}/stop", self._on_stop, callback_group=control)
        self.create_service(Trigger, f"{device}/reset", self._on_reset, callback_group=control)
        if gripper is not None:
            self.create_service(GripperCommand, f"{device}/gripper", self._on_gripper, callback_group=motion)
        self.get_logger().info(f"{device} driver ready: joints {list(driver.joint_names)}")

    # ------------------------------------------------------------------------------ callbacks
    def _publish_joint_state(self) -> None:
        state = self.driver.joint_state()
        msg = JointState(name=list(state.names))
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.position = state.positions.tolist()
        msg.velocity = state.velocities.tolist()
        self.joint_pub.publish(msg)

    def _on_goal(self, _goal) -> GoalResponse:
        if self._busy.locked():
            self.get_logger().warning("refusing a trajectory: already moving")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _execute(self, goal_handle) -> FollowTrajectory.Result:
        result = FollowTrajectory.Result()
        if not self._busy.acquire(blocking=False):
            goal_handle.abort()
            result.error_kind, result.message = "fault", f"{self.device} is already moving"
            return result
        try:
            with self.cancels.track(goal_handle) as cancelled:
                try:
                    trajectory = msg_to_trajectory(goal_handle.request.trajectory)
                    if cancelled.is_set():
                        raise InterruptedError(f"{self.device}: cancelled before the move started")
                    last = [0.0]

                    def progress(fraction: float) -> None:
                        now = time.monotonic()
                        if now - last[0] >= self.feedback_period:
                            last[0] = now
                            fb = FollowTrajectory.Feedback(progress=float(fraction))
                            fb.positions = self.driver.joint_state().positions.tolist()
                            goal_handle.publish_feedback(fb)

                    self.driver.follow(trajectory, progress)
                    result.success = True
                    goal_handle.succeed()
                except Exception as exc:
                    result.message = str(exc)
                    if cancelled.is_set():
                        result.error_kind = "cancelled"
                        if not self.estop_held:
                            self.driver.reset()  # the cancel's stop latched the drive: release it
                        goal_handle.canceled()
                    else:
                        result.error_kind = error_kind(exc)
                        self.get_logger().warning(f"trajectory failed ({result.error_kind}): {exc}")
                        goal_handle.abort()
        finally:
            self._busy.release()
        result.final_positions = self.driver.joint_state().positions.tolist()
        return result

    def _on_estop(self, msg: Bool) -> None:
        if msg.data and not self.estop_held:
            self.driver.stop()
            self.get_logger().error(f"E-STOP: {self.device} halted")
        self.estop_held = bool(msg.data)

    def _on_stop(self, _request, response: Trigger.Response) -> Trigger.Response:
        self.driver.stop()
        response.success, response.message = True, f"{self.device} halted (latched until reset)"
        return response

    def _on_reset(self, _request, response: Trigger.Response) -> Trigger.Response:
        if self.estop_held:
            response.success, response.message = False, "the e-stop is still pressed"
        else:
            self.driver.reset()
            response.success, response.message = True, f"{self.device} ready"
        return response

    def _on_gripper(self, request, response: GripperCommand.Response) -> GripperCommand.Response:
        assert self.gripper is not None
        try:
            if request.close:
                self.gripper.close()
            else:
                self.gripper.open()
            response.success = True
        except Exception as exc:
            response.success, response.message = False, f"gripper: {exc}"
        response.holding = bool(self.gripper.holding())
        return response
