"""Helpers for tests that run real ROS 2 nodes in child processes.

Discovery between processes takes 0.07-2.7 s here, so tests wait on conditions (node names, matched
publishers/subscribers, services, action servers) with generous timeouts and never sleep a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

DISCOVERY_TIMEOUT_S = 20.0


@contextlib.contextmanager
def spinning_pair(name: str) -> Iterator[tuple[Any, Any]]:
    """In-process `<name>_server` and `<name>_client` nodes in a context of their own, spun by one
    multi-threaded executor on a daemon thread; all of it shut down on exit."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    context = rclpy.context.Context()
    rclpy.init(context=context)
    server = rclpy.create_node(f"{name}_server", context=context)
    client = rclpy.create_node(f"{name}_client", context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    executor.add_node(server)
    executor.add_node(client)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        yield server, client
    finally:
        executor.shutdown()
        thread.join(10)
        for node in (server, client):
            _destroy_actions(node)
            node.destroy_node()
        context.try_shutdown()


def _destroy_actions(node: Any) -> None:
    """Destroy a node's action servers and clients now, once nothing spins it. `destroy_node` leaves
    them to the garbage collector, which may run in the next test while its DDS delivers: a test then
    saw its server "not available" for 30 s (`ActionProxy.destroy`: such a collection deadlocked inside
    Fast DDS)."""
    from rclpy.action import ActionClient, ActionServer

    for waitable in list(node.waitables):
        if isinstance(waitable, ActionServer | ActionClient):
            waitable.destroy()


def ros_environment(domain_id: int) -> dict[str, str]:
    """Environment for a ROS 2 child process: localhost-only discovery on this run's own domain."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_until(predicate: Callable[[], bool], timeout: float, spin: Callable[[], None], what: str) -> None:
    """Spin until `predicate()` holds; raise TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        spin()


class RosProcesses:
    """Starts ROS 2 programs as child processes and stops them all (SIGINT, then SIGKILL)."""

    def __init__(self, domain_id: int, log_dir: Path) -> None:
        self.domain_id = domain_id
        self.log_dir = log_dir
        self._procs: list[tuple[subprocess.Popen, Path]] = []

    def start(self, args: Sequence[str], name: str) -> subprocess.Popen:
        """Run `python args...` (e.g. ["-m", "pkg.node"]) with the ROS test environment."""
        log = self.log_dir / f"{name}.log"
        handle = log.open("w")
        proc = subprocess.Popen(
            [sys.executable, *args],
            env=ros_environment(self.domain_id),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._procs.append((proc, log))
        return proc

    def log_of(self, proc: subprocess.Popen) -> str:
        for p, log in self._procs:
            if p is proc:
                return log.read_text(errors="replace")
        raise KeyError(proc)

    def stop_all(self, timeout: float = 30.0) -> None:
        """SIGINT all, SIGKILL what is left after `timeout` (longer than a bring-up's own 20 s stop, so
        `bladecell up` is never killed while it still stops its nodes)."""
        for proc, _ in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for proc, _ in self._procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._procs.clear()


class RosProbe:
    """An rclpy node with its own context and executor, living in the test process."""

    def __init__(self, name: str) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.context.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_once(self, timeout: float = 0.1) -> None:
        self.executor.spin_once(timeout_sec=timeout)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()
