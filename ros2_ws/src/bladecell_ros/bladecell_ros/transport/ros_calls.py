"""Blocking service and action calls from a worker thread, with timeouts and lost-server detection.

The cycle runs on its own thread while the node's executor (a MultiThreadedExecutor in another thread)
completes the futures. A call waits in short slices and gives up with `DeviceUnreachable` when the
server is not discovered within `connect_timeout`, disappears while the call is pending for longer
than `lost_grace` (its process died: Fast DDS drops its endpoints when the participant's lease
expires, see config/fastdds_profiles.xml), or does not answer within `timeout`. An action's goal
also counts as lost when the server that took it was replaced by a new process (a supervised restart
within the grace): the new one never heard of the goal; likewise a service request (`same_server`).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from action_msgs.msg import GoalStatus
from rclpy.action.client import ClientGoalHandle
from rclpy.client import Client
from rclpy.node import Node
from rclpy.task import Future
from unique_identifier_msgs.msg import UUID

from bladecell_ros.transport.action_client import ActionClient
from platform_control.hardware import DeviceUnreachable

SLICE_S = 0.05


class NoAnswer(DeviceUnreachable):
    """The server is there but did not answer within the time allowed."""


def _wait_future(
    future: Future,
    *,
    device: str,
    what: str,
    timeout: float | None,
    alive: Callable[[], bool],
    lost_grace: float,
    cancel: threading.Event | None = None,
    every: tuple[float, Callable[[], None]] | None = None,
) -> Any:
    """`future`'s result; `every` = (seconds, fn) calls fn each time that long has passed unanswered."""
    done = threading.Event()
    future.add_done_callback(lambda _f: done.set())
    start = time.monotonic()
    gone_since: float | None = None
    last_tick = start
    while not done.wait(SLICE_S):
        now = time.monotonic()
        if every is not None and now - last_tick >= every[0]:
            every[1]()
            last_tick = now
        if cancel is not None and cancel.is_set():
            raise InterruptedError(f"{device}: {what} cancelled")
        if timeout is not None and now - start > timeout:
            raise NoAnswer(device, f"{what} got no answer within {timeout:.0f} s")
        if alive():
            gone_since = None
        elif gone_since is None:
            gone_since = now
        elif now - gone_since > lost_grace:
            raise DeviceUnreachable(device, f"{what}: the server went away (process stopped?)")
    if future.exception() is not None:
        raise DeviceUnreachable(device, f"{what} failed: {future.exception()}")
    return future.result()


def same_server(ready: Callable[[], bool], ids: Callable[[], set[bytes]]) -> Callable[[], bool]:
    """Alive while a server that took the request is still there. A supervised server that crashed and
    came back within the grace (a new process, which never heard of the request) is not: the call would
    otherwise wait for an answer that never comes (a detect waited its whole 120 s)."""
    taken = ids()
    if not taken:  # endpoints not visible through the graph API (another RMW): readiness alone
        return ready
    return lambda: ready() and bool(taken & ids())


def wait_for_server(ready: Callable[[], bool], device: str, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise DeviceUnreachable(device, f"{what} is not available (waited {timeout:.0f} s)")
        time.sleep(SLICE_S)


class ServiceProxy:
    """A service client whose `call` blocks the calling (non-executor) thread."""

    def __init__(self, node: Node, srv_type: Any, name: str, device: str, callback_group: Any = None) -> None:
        self.client: Client = node.create_client(srv_type, name, callback_group=callback_group)
        self.node = node
        self.name = name
        self.device = device

    def ready(self) -> bool:
        return self.client.service_is_ready()

    def server_ids(self) -> set[bytes]:
        """Endpoint ids of the server(s) now in the graph (their reply writers; DDS name rr/...Reply)."""
        reply = "rr" + self.node.resolve_service_name(self.name) + "Reply"
        return {bytes(i.endpoint_gid) for i in self.node.get_publishers_info_by_topic(reply, no_mangle=True)}

    def call(
        self,
        request: Any,
        *,
        timeout: float | None,
        connect_timeout: float = 10.0,
        lost_grace: float = 1.0,
        resend_after: float | None = None,
    ) -> Any:
        """The response (`DeviceUnreachable` when there is no server, it went away, or on timeout).

        `resend_after` (idempotent requests only, e.g. a driver's stop and reset): a request without an answer
        after that many seconds is sent again, until `timeout`. A server that has just (re)started is
        "ready" for the client as soon as it can receive requests, but it may not have discovered the
        client's response reader yet; its RMW then drops the response ("client will not receive
        response", after a 100 ms wait) and the call would wait for nothing until its timeout. That
        is what made `arm/reset` time out right after a `sim_cell` restart on a loaded machine."""
        what = f"service {self.name}"
        wait_for_server(self.client.service_is_ready, self.device, what, connect_timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            last = resend_after is None or (left is not None and left <= resend_after)
            attempt = left if last else resend_after
            alive = same_server(self.client.service_is_ready, self.server_ids)
            future = self.client.call_async(request)
            try:
                return _wait_future(
                    future,
                    device=self.device,
                    what=what,
                    timeout=attempt,
                    alive=alive,
                    lost_grace=lost_grace,
                )
            except NoAnswer:
                self.client.remove_pending_request(future)
                if last:
                    raise NoAnswer(self.device, f"{what} got no answer within {timeout:.0f} s") from None
            except BaseException:
                self.client.remove_pending_request(future)
                raise


class ActionProxy:
    """An action client whose `run` blocks the calling (non-executor) thread until the result."""

    #: the action client class (`action_client.ActionClient`: rclpy's, with its goal-answer race closed;
    #: a test's subclass loses answers the way a just-started server's RMW does)
    client_class: type[ActionClient] = ActionClient

    def __init__(
        self, node: Node, action_type: Any, name: str, device: str, callback_group: Any = None
    ) -> None:
        self.client = self.client_class(node, action_type, name, callback_group=callback_group)
        self._action_type = action_type
        self.node = node
        self.name = name
        self.device = device

    def ready(self) -> bool:
        return self.client.server_is_ready()

    def destroy(self) -> None:
        """Destroy the action client now. `Node.destroy_node` leaves action clients to the garbage
        collector, and a collection that destroys one while DDS delivers to the same participant
        deadlocked inside Fast DDS (`PDP::removeReaderProxyData`, seen as a test run that hung)."""
        self.client.destroy()

    def server_ids(self) -> set[bytes]:
        """Endpoint ids of the server(s) now in the graph (of the action's status publisher)."""
        infos = self.node.get_publishers_info_by_topic(f"{self.name}/_action/status")
        return {bytes(info.endpoint_gid) for info in infos}

    def run(
        self,
        goal: Any,
        *,
        timeout: float | None,
        feedback: Callable[[Any], None] | None = None,
        cancel: threading.Event | None = None,
        connect_timeout: float = 10.0,
        lost_grace: float = 1.0,
        resend_after: float | None = None,
    ) -> tuple[Any, int]:
        """Send a goal and wait for its result; returns (result, GoalStatus code).

        `cancel` set while running cancels the goal (InterruptedError is raised). `resend_after`: a goal
        without an answer after that many seconds is sent again under the same goal id, until
        `connect_timeout` (see `_send_goal`: the server runs it at most once); and a goal that has
        ended, by its status, without its result arriving has the result asked for again that often
        (`_ResultRequests`: asking is idempotent).
        """
        what = f"action {self.name}"
        client = self.client
        wait_for_server(client.server_is_ready, self.device, what, connect_timeout)
        alive = same_server(client.server_is_ready, self.server_ids)
        handle, adopted = self._send_goal(goal, feedback, alive, connect_timeout, lost_grace, resend_after)
        requests = _ResultRequests(handle)
        try:
            response = _wait_future(
                requests.answer,
                device=self.device,
                what=what,
                timeout=timeout,
                alive=alive,
                lost_grace=lost_grace,
                cancel=cancel,
                every=(resend_after, requests.ask_again_if_ended) if resend_after else None,
            )
        except BaseException:
            if not requests.answer.done():
                handle.cancel_goal_async()
            raise
        finally:
            requests.forget_unanswered()
        if adopted and response.status == GoalStatus.STATUS_UNKNOWN:
            raise DeviceUnreachable(self.device, f"{what} refused the goal (busy?)")
        return response.result, response.status

    def _send_goal(
        self,
        goal: Any,
        feedback: Callable[[Any], None] | None,
        alive: Callable[[], bool],
        connect_timeout: float,
        lost_grace: float,
        resend_after: float | None,
    ) -> tuple[ClientGoalHandle, bool]:
        """The accepted goal's handle, and whether it was adopted by id (its acceptance never came).

        A just-(re)started server can take a goal before its RMW has matched the client's response
        reader: it accepts and executes the goal, but the answer is dropped ("failed to send response
        (timeout): client will not receive response" is only a warning in rclpy), so the caller would
        wait `connect_timeout` and fail a step whose motion ran. Sending the goal again with a new id
        would run it twice; the same id cannot: rcl refuses a second goal with an id it already holds.
        So a resend that is refused means "known already, or refused": the handle is adopted by id and
        the result request decides (a server that never accepted the id answers STATUS_UNKNOWN).
        Resends go only to the server that took the first send (`alive`); a new process never heard of
        it, and the old one may have run part of it."""
        what = f"action {self.name} goal"
        goal_id = UUID(uuid=list(uuid.uuid4().bytes))
        on_feedback = (lambda m: feedback(m.feedback)) if feedback else None
        deadline = time.monotonic() + connect_timeout
        sent = 0
        while True:
            left = max(0.0, deadline - time.monotonic())
            last = resend_after is None or left <= resend_after
            if sent and not alive():
                raise DeviceUnreachable(self.device, f"{what}: the server was replaced before it answered")
            future = self.client.send_goal_async(goal, feedback_callback=on_feedback, goal_uuid=goal_id)
            sent += 1
            try:
                handle = _wait_future(
                    future,
                    device=self.device,
                    what=what,
                    timeout=left if last else resend_after,
                    alive=self.client.server_is_ready,
                    lost_grace=lost_grace,
                )
            except NoAnswer:
                future.cancel()  # the client forgets the request; a late answer is ignored
                if last:
                    raise NoAnswer(
                        self.device, f"{what} got no answer within {connect_timeout:.0f} s"
                    ) from None
                continue
            except BaseException:
                future.cancel()
                raise
            if handle.accepted:
                return handle, False
            if sent == 1:
                raise DeviceUnreachable(self.device, f"action {self.name} refused the goal (busy?)")
            accepted = self._action_type.Impl.SendGoalService.Response(accepted=True)
            return ClientGoalHandle(self.client, goal_id, accepted), True


_ENDED = (GoalStatus.STATUS_SUCCEEDED, GoalStatus.STATUS_ABORTED, GoalStatus.STATUS_CANCELED)


class _ResultRequests:
    """The result requests of one goal, answered by whichever answer comes first (`answer`).

    Why: the result's answer can be dropped like a goal's acceptance (a just-restarted server's RMW
    that has not matched the caller's reader yet); the caller then waited its whole timeout for a goal
    that had ended. The goal's status topic says it ended (`handle.status`), and the server answers a
    result request for a goal it holds at any time, so asking again is safe. Requests left unanswered
    are cancelled at the end: rclpy keeps each pending one for the life of the client otherwise."""

    def __init__(self, handle: ClientGoalHandle) -> None:
        self.handle = handle
        self.answer: Future = Future()
        self.sent: list[Future] = []
        self._ask()

    def _ask(self) -> None:
        future = self.handle.get_result_async()
        future.add_done_callback(self._on_done)
        self.sent.append(future)

    def _on_done(self, future: Future) -> None:
        if self.answer.done() or future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self.answer.set_exception(error)
        else:
            self.answer.set_result(future.result())

    def ask_again_if_ended(self) -> None:
        if self.handle.status in _ENDED and not self.answer.done():
            self._ask()

    def forget_unanswered(self) -> None:
        for future in self.sent:
            if not future.done():
                future.cancel()
