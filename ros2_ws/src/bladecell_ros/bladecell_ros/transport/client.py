"""A technician's handle on a running cell (used by `bladecell inspect`, the demo, tests, benchmarks).

`CellClient` is an rclpy node with its own context and executor thread (joined on close): it sends
InspectBlade goals, follows CellStatus, presses/releases the e-stop and lists the graph's nodes.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import rclpy
from bladecell_interfaces.action import InspectBlade
from bladecell_interfaces.msg import CellStatus
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from bladecell_ros.transport.node_utils import ESTOP_QOS, ESTOP_TOPIC
from bladecell_ros.transport.ros_calls import ActionProxy, ServiceProxy, wait_for_server


class CellClient:
    def __init__(self, name: str | None = None) -> None:
        self.context = Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(
            name or f"bladecell_client_{uuid.uuid4().hex[:8]}", context=self.context
        )
        self.executor = MultiThreadedExecutor(num_threads=3, context=self.context)
        self.executor.add_node(self.node)
        self.inspect_action = ActionProxy(self.node, InspectBlade, "inspect_blade", "cell coordinator")
        self.reset_srv = ServiceProxy(self.node, Trigger, "cell_coordinator/reset_estop", "cell coordinator")
        self.abort_srv = ServiceProxy(self.node, Trigger, "cell_coordinator/abort", "cell coordinator")
        self.estop_pub = self.node.create_publisher(Bool, ESTOP_TOPIC, ESTOP_QOS)
        self.status: CellStatus | None = None
        self.status_history: list[CellStatus] = []
        self._status_cbs: list[Callable[[CellStatus], None]] = []
        self.node.create_subscription(CellStatus, "cell_status", self._on_status, 50)
        self._thread = threading.Thread(target=self.executor.spin, name="cell-client-spin", daemon=True)
        self._thread.start()

    def _on_status(self, msg: CellStatus) -> None:
        self.status = msg
        self.status_history.append(msg)
        del self.status_history[:-2000]
        for cb in list(self._status_cbs):
            cb(msg)

    def on_status(self, callback: Callable[[CellStatus], None]) -> None:
        self._status_cbs.append(callback)

    def node_names(self) -> list[str]:
        return self.node.get_node_names()

    def wait_for_coordinator(self, timeout: float = 30.0) -> None:
        wait_for_server(self.inspect_action.ready, "cell coordinator", "action inspect_blade", timeout)

    def wait_status(self, predicate: Callable[[CellStatus], bool], timeout: float, what: str) -> CellStatus:
        """Block until a CellStatus satisfies `predicate` (TimeoutError names `what`)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            history = self.status_history
            for msg in history[seen:]:
                if predicate(msg):
                    return msg
            seen = len(history)
            time.sleep(0.02)
        last = self.status
        raise TimeoutError(
            f"timed out after {timeout:.0f} s waiting for {what}; last status: "
            f"{(last.state, last.message) if last else None}"
        )

    def inspect(
        self,
        blade_serial: str,
        part_family: str,
        *,
        operator: str = "",
        force_redesign: bool = False,
        resume: bool = False,
        feedback: Callable[[Any], None] | None = None,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
    ) -> Any:
        """Send InspectBlade and wait for the result (InspectBlade.Result)."""
        goal = InspectBlade.Goal(
            blade_serial=blade_serial,
            part_family=part_family,
            operator_name=operator,
            force_redesign=force_redesign,
            resume=resume,
        )
        result, _status = self.inspect_action.run(
            goal, timeout=timeout, feedback=feedback, cancel=cancel, connect_timeout=30.0, lost_grace=5.0
        )
        return result

    def press_estop(self, pressed: bool = True, *, subscribers: int = 0, timeout: float = 10.0) -> None:
        """Publish the e-stop state. With `subscribers` > 0, first wait until that many nodes listen
        (coordinator, arm, stage = 3), and until every one of them has acknowledged the message."""
        from rclpy.duration import Duration

        deadline = time.monotonic() + timeout
        while self.estop_pub.get_subscription_count() < subscribers:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.estop_pub.get_subscription_count()} e-stop listeners")
            time.sleep(0.02)
        self.estop_pub.publish(Bool(data=pressed))
        if subscribers:
            self.estop_pub.wait_for_all_acked(Duration(seconds=timeout))

    def reset_estop(self) -> Trigger.Response:
        return self.reset_srv.call(Trigger.Request(), timeout=30.0)

    def close(self) -> None:
        self.executor.shutdown()
        self._thread.join(10)
        self.inspect_action.destroy()  # destroy_node leaves action clients to the GC (ActionProxy.destroy)
        self.node.destroy_node()
        self.context.try_shutdown()

    def __enter__(self) -> CellClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
