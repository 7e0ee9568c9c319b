"""`ActionProxy.run(resend_after=...)`: a goal whose acceptance never reaches the caller is sent again
under the same id, and the server runs it once.

A just-(re)started server can take a goal before its RMW has matched the caller's response reader: rclpy
accepts and executes the goal but the answer is dropped (only a warning: "failed to send response
(timeout): client will not receive response"). Without a resend the step waited `connect_timeout` and
failed although its motion ran. Here the caller's action client loses the first goal answer it
receives (as if the RMW had never delivered it); the server, its duplicate-id refusal and its
executions are the real rclpy ones."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.ros


@pytest.fixture
def node_pair():
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    context = rclpy.context.Context()
    rclpy.init(context=context)
    server = rclpy.create_node("action_resend_server", context=context)
    client = rclpy.create_node("action_resend_client", context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    executor.add_node(server)
    executor.add_node(client)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    proxies: list = []
    yield server, client, proxies
    for proxy in proxies:
        proxy.destroy()
    executor.shutdown()
    thread.join(10)
    server.destroy_node()
    client.destroy_node()
    context.try_shutdown()


class _Probe:
    """A FollowTrajectory server that counts the goals its goal callback saw (a goal id it holds already
    never gets there) and its executions; `accept` decides the goal callback."""

    def __init__(self, node, *, accept: bool = True) -> None:
        from bladecell_interfaces.action import FollowTrajectory
        from rclpy.action import ActionServer, GoalResponse
        from rclpy.callback_groups import ReentrantCallbackGroup

        self.goals = 0
        self.executions = 0
        probe = self

        def on_goal(_goal):
            probe.goals += 1
            return GoalResponse.ACCEPT if accept else GoalResponse.REJECT

        def execute(goal_handle):
            probe.executions += 1
            goal_handle.succeed()
            return FollowTrajectory.Result(success=True, message=f"run {probe.executions}")

        self.server = ActionServer(
            node,
            FollowTrajectory,
            "resend_probe",
            execute_callback=execute,
            goal_callback=on_goal,
            callback_group=ReentrantCallbackGroup(),
        )


def _proxy(client, proxies, *, lose_first: bool):
    """An ActionProxy whose action client loses the first goal answer when `lose_first`."""
    from bladecell_interfaces.action import FollowTrajectory
    from bladecell_ros.transport.ros_calls import ActionProxy
    from rclpy.action import ActionClient

    class LossyClient(ActionClient):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.lost = 0
            self.sent: list[bytes] = []

        def send_goal_async(self, goal, feedback_callback=None, goal_uuid=None):
            self.sent.append(bytes(goal_uuid.uuid) if goal_uuid else b"")
            return super().send_goal_async(goal, feedback_callback, goal_uuid)

        async def execute(self, taken_data):
            if lose_first and "goal" in taken_data and not self.lost:
                self.lost += 1
                del taken_data["goal"]
            await super().execute(taken_data)

    class LossyProxy(ActionProxy):
        client_class = LossyClient

    proxy = LossyProxy(client, FollowTrajectory, "resend_probe", "probe")
    proxies.append(proxy)
    return proxy, FollowTrajectory.Goal()


def test_a_goal_whose_acceptance_was_lost_is_resent_and_runs_once(node_pair) -> None:
    from action_msgs.msg import GoalStatus

    server, client, proxies = node_pair
    probe = _Probe(server)
    proxy, goal = _proxy(client, proxies, lose_first=True)
    result, status = proxy.run(goal, timeout=30.0, connect_timeout=30.0, resend_after=0.5)
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success
    assert result.message == "run 1"
    sent = proxy.client.sent
    assert len(sent) == 2 and sent[0] == sent[1]  # the first and its resend under the same id
    assert probe.goals == 1 and probe.executions == 1  # the resend was refused as a duplicate


def test_without_resend_a_lost_acceptance_fails_the_call_although_the_goal_ran(node_pair) -> None:
    from bladecell_ros.transport.ros_calls import NoAnswer

    server, client, proxies = node_pair
    probe = _Probe(server)
    proxy, goal = _proxy(client, proxies, lose_first=True)
    with pytest.raises(NoAnswer, match="goal got no answer within 2 s"):
        proxy.run(goal, timeout=30.0, connect_timeout=2.0)
    assert len(proxy.client.sent) == 1 and probe.executions == 1


def test_a_refused_goal_whose_refusal_was_lost_is_reported_refused(node_pair) -> None:
    from platform_control.hardware import DeviceUnreachable

    server, client, proxies = node_pair
    probe = _Probe(server, accept=False)
    proxy, goal = _proxy(client, proxies, lose_first=True)
    with pytest.raises(DeviceUnreachable, match="refused the goal"):
        proxy.run(goal, timeout=30.0, connect_timeout=30.0, resend_after=0.5)
    assert len(proxy.client.sent) == 2 and probe.goals == 2 and probe.executions == 0


def test_an_answered_goal_is_sent_once(node_pair) -> None:
    server, client, proxies = node_pair
    probe = _Probe(server)
    proxy, goal = _proxy(client, proxies, lose_first=False)
    for _ in range(3):
        result, _status = proxy.run(goal, timeout=30.0, connect_timeout=30.0, resend_after=0.5)
        assert result.success
    assert len(proxy.client.sent) == 3 and probe.executions == 3
