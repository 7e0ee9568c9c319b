"""`ServiceProxy.call(resend_after=...)`: an idempotent request whose answer never comes is sent again.

A just-restarted server can drop its answer (its RMW had not matched the client's response reader yet:
"failed to send response (timeout): client will not receive response"); without a resend, a driver
reset right after a `sim_cell` restart waited its whole 5 s and faulted the resume. Here the server
swallows the first request (its answer is held back until the second request has been answered)."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.ros


@pytest.fixture
def node_pair():
    from ros_support import spinning_pair

    with spinning_pair("resend") as pair:
        yield pair


def _serve_dropping_the_first(server) -> tuple[list[int], threading.Event]:
    from rclpy.callback_groups import ReentrantCallbackGroup
    from std_srvs.srv import Trigger

    seen: list[int] = []
    second_answered = threading.Event()

    def on_request(_request, response):
        seen.append(len(seen) + 1)
        if len(seen) == 1:
            second_answered.wait(30)  # the lost answer: comes (if ever) after the client gave up on it
        else:
            second_answered.set()
        response.success, response.message = True, f"answer {len(seen)}"
        return response

    server.create_service(Trigger, "resend_probe", on_request, callback_group=ReentrantCallbackGroup())
    return seen, second_answered


def test_a_lost_answer_is_requested_again(node_pair) -> None:
    from bladecell_ros.transport.ros_calls import ServiceProxy
    from std_srvs.srv import Trigger

    server, client = node_pair
    seen, _ = _serve_dropping_the_first(server)
    proxy = ServiceProxy(client, Trigger, "resend_probe", "probe")
    response = proxy.call(Trigger.Request(), timeout=30.0, connect_timeout=30.0, resend_after=0.5)
    assert response.success and len(seen) == 2
    # the server is known by its reply writer, so a call notices when a new process replaced it
    assert len(proxy.server_ids()) == 1


def test_without_resend_the_call_waits_for_nothing_until_its_timeout(node_pair) -> None:
    from bladecell_ros.transport.ros_calls import NoAnswer, ServiceProxy
    from std_srvs.srv import Trigger

    server, client = node_pair
    seen, release = _serve_dropping_the_first(server)
    proxy = ServiceProxy(client, Trigger, "resend_probe", "probe")
    with pytest.raises(NoAnswer, match="no answer within 2 s"):
        proxy.call(Trigger.Request(), timeout=2.0, connect_timeout=30.0)
    assert len(seen) == 1
    release.set()  # let the held callback end before the executor shuts down
