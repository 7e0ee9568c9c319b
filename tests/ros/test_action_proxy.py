"""`ActionProxy` against real in-process rclpy action servers (issue 16).

1. `run(resend_after=...)`: a goal whose acceptance never reaches the caller is sent again under the
same id, and the server runs it once. A just-(re)started server can take a goal before its RMW has
matched the caller's response reader: rclpy accepts and executes the goal but the answer is dropped
(only a warning: "failed to send response (timeout): client will not receive response"). Without a
resend the step waited `connect_timeout` and failed although its motion ran. Here the caller's action
client loses the first goal answer it receives (as if the RMW had never delivered it); the server,
its duplicate-id refusal and its executions are the real rclpy ones.

2. The goal-answer race of rclpy 9.1.2's `send_goal_async` (`transport.action_client`), which made an
UNLOAD fail with `list.remove(x): x not in list`: the caller's thread is paused where rclpy registers
the goal's future a second time outside its lock, until the executor has handed the answer on (as a
loaded host's scheduler may pause it for a GIL slice)."""

from __future__ import annotations

import threading
import time

import pytest

pytestmark = pytest.mark.ros


@pytest.fixture
def node_pair():
    from ros_support import spinning_pair

    with spinning_pair("action_resend") as (server, client):
        proxies: list = []
        yield server, client, proxies
        for proxy in proxies:
            proxy.destroy()


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


def _proxy(client, proxies, *, lose_first: bool, lose: str = "goal"):
    """An ActionProxy whose action client loses the first `lose` answer ("goal": the acceptance,
    "result": the result) when `lose_first`."""
    from bladecell_interfaces.action import FollowTrajectory
    from bladecell_ros.transport.ros_calls import ActionProxy

    class LossyClient(ActionProxy.client_class):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.lost = 0
            self.sent: list[bytes] = []
            self.result_requests = 0

        def send_goal_async(self, goal, feedback_callback=None, goal_uuid=None):
            self.sent.append(bytes(goal_uuid.uuid) if goal_uuid else b"")
            return super().send_goal_async(goal, feedback_callback, goal_uuid)

        def _get_result_async(self, goal_handle):
            self.result_requests += 1
            return super()._get_result_async(goal_handle)

        async def execute(self, taken_data):
            if lose_first and lose in taken_data and not self.lost:
                self.lost += 1
                del taken_data[lose]
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
    assert proxy.client._futures == []  # rclpy's abandoned first future of each send is not kept


def test_a_result_whose_answer_was_lost_is_asked_for_again_once_the_goal_ended(node_pair) -> None:
    from action_msgs.msg import GoalStatus

    server, client, proxies = node_pair
    probe = _Probe(server)
    proxy, goal = _proxy(client, proxies, lose_first=True, lose="result")
    result, status = proxy.run(goal, timeout=30.0, connect_timeout=30.0, resend_after=0.5)
    assert status == GoalStatus.STATUS_SUCCEEDED and result.message == "run 1"
    assert proxy.client.lost == 1 and proxy.client.result_requests >= 2
    assert probe.goals == 1 and probe.executions == 1  # asking again did not run the goal again
    # the lost request is not kept for ever (rclpy drops a cancelled one on its executor thread)
    deadline = time.monotonic() + 30.0
    while proxy.client._pending_result_requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proxy.client._pending_result_requests == {}


def test_without_resend_a_lost_result_fails_the_call_after_its_timeout(node_pair) -> None:
    from bladecell_ros.transport.ros_calls import NoAnswer

    server, client, proxies = node_pair
    probe = _Probe(server)
    proxy, goal = _proxy(client, proxies, lose_first=True, lose="result")
    with pytest.raises(NoAnswer, match="got no answer within 2 s"):
        proxy.run(goal, timeout=2.0, connect_timeout=30.0)
    assert proxy.client.result_requests == 1 and probe.executions == 1


def test_a_running_goal_has_its_result_asked_for_once(node_pair) -> None:
    """Asking again waits for the goal's end: a long goal (a design) does not pile up requests."""
    from bladecell_interfaces.action import FollowTrajectory
    from rclpy.action import ActionServer
    from rclpy.callback_groups import ReentrantCallbackGroup

    server, client, proxies = node_pair
    release = threading.Event()

    def execute(goal_handle):
        release.wait(30.0)
        goal_handle.succeed()
        return FollowTrajectory.Result(success=True, message="long")

    ActionServer(server, FollowTrajectory, "resend_probe", execute, callback_group=ReentrantCallbackGroup())
    proxy, goal = _proxy(client, proxies, lose_first=False)
    while_running: list[int] = []

    def end_goal() -> None:
        while_running.append(proxy.client.result_requests)
        release.set()

    threading.Timer(2.0, end_goal).start()
    result, _status = proxy.run(goal, timeout=30.0, connect_timeout=30.0, resend_after=0.2)
    # asked once in the 2 s it ran; after its end a slow answer may be asked for again, which is allowed
    assert result.message == "long" and while_running == [1]


#: the longest pause of the caller's thread in rclpy's registration gap (the answer comes in ms)
PAUSE_S = 1.5


def _pausing(base: type) -> type:
    """`base` (an action client class) whose sends pause in rclpy's second, unlocked registration of
    the goal's future until the executor has completed that future or PAUSE_S has passed."""

    class PausingIds(dict):
        def __init__(self, client) -> None:
            super().__init__()
            self.client = client
            self.paused = 0

        def __setitem__(self, seq, goal_id) -> None:
            again = seq in self
            super().__setitem__(seq, goal_id)
            if again:  # rclpy's second registration, after its lock was released
                self.paused += 1
                deadline = time.monotonic() + PAUSE_S
                pending = self.client._pending_goal_requests
                while not pending[seq].done() and time.monotonic() < deadline:
                    time.sleep(0.005)

    class PausingClient(base):
        def __init__(self, *args, **kwargs) -> None:
            self._lock = threading.Lock()  # rclpy's is made after the executor can see the client
            super().__init__(*args, **kwargs)
            self.ids = self._goal_sequence_number_to_goal_id = PausingIds(self)

    return PausingClient


def test_rclpy_send_goal_async_raises_list_remove_when_the_answer_comes_in_its_gap(node_pair) -> None:
    """The library's race itself (a tripwire: when it stops reproducing, `action_client` can go)."""
    from bladecell_interfaces.action import FollowTrajectory
    from rclpy.action import ActionClient

    server, client, proxies = node_pair
    probe = _Probe(server)
    raw = _pausing(ActionClient)(client, FollowTrajectory, "resend_probe")
    proxies.append(raw)
    assert raw.wait_for_server(timeout_sec=30.0)
    with pytest.raises(ValueError, match=r"list.remove\(x\): x not in list"):
        raw.send_goal_async(FollowTrajectory.Goal())
    assert raw.ids.paused == 1
    deadline = time.monotonic() + 30.0
    while probe.executions < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert probe.executions == 1  # the goal ran; its caller got an exception instead of the handle


def test_an_answer_in_the_gap_waits_for_the_send_and_the_goal_runs_once(node_pair) -> None:
    from action_msgs.msg import GoalStatus
    from bladecell_interfaces.action import FollowTrajectory
    from bladecell_ros.transport.ros_calls import ActionProxy

    server, client, proxies = node_pair
    probe = _Probe(server)

    class PausingProxy(ActionProxy):
        client_class = _pausing(ActionProxy.client_class)

    proxy = PausingProxy(client, FollowTrajectory, "resend_probe", "probe")
    proxies.append(proxy)
    for i in range(3):
        result, status = proxy.run(FollowTrajectory.Goal(), timeout=30.0, connect_timeout=30.0)
        assert status == GoalStatus.STATUS_SUCCEEDED and result.message == f"run {i + 1}"
    assert proxy.client.ids.paused == 3 and probe.executions == 3


def test_a_goal_whose_answer_the_rmw_drops_runs_and_its_result_is_there_by_id(node_pair) -> None:
    """The premise of the resend, on a real RMW drop: the server's goal answers go out best effort, so
    its writer never matches the caller's reliable reader and each answer is dropped ("client will not
    receive response"). rclpy runs the goal anyway, and its result is there for whoever asks by id."""
    import uuid

    from action_msgs.msg import GoalStatus
    from bladecell_interfaces.action import FollowTrajectory
    from bladecell_ros.transport.action_client import ActionClient
    from rclpy.action import ActionServer
    from rclpy.action.client import ClientGoalHandle
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from unique_identifier_msgs.msg import UUID

    server, client, proxies = node_pair
    ran: list[int] = []

    def execute(goal_handle):
        ran.append(1)
        goal_handle.succeed()
        return FollowTrajectory.Result(success=True, message="ran")

    best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    ActionServer(server, FollowTrajectory, "drop_probe", execute, goal_service_qos_profile=best_effort)
    raw = ActionClient(client, FollowTrajectory, "drop_probe")
    proxies.append(raw)
    goal_id = UUID(uuid=list(uuid.uuid4().bytes))
    answers = []
    deadline = time.monotonic() + 30.0
    while not ran and time.monotonic() < deadline:  # the request path matches after discovery: resend
        answers.append(raw.send_goal_async(FollowTrajectory.Goal(), goal_uuid=goal_id))
        time.sleep(0.2)
    assert ran == [1] and not any(a.done() for a in answers)  # it ran once; no acceptance ever came
    accepted = FollowTrajectory.Impl.SendGoalService.Response(accepted=True)
    result = ClientGoalHandle(raw, goal_id, accepted).get_result_async()
    while not result.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert result.done() and result.result().status == GoalStatus.STATUS_SUCCEEDED
    assert result.result().result.message == "ran" and ran == [1]
