"""`run_nodes`: Ctrl-C and SIGTERM both end the spin cleanly, also for a node that is idle (no timer,
no traffic: the main thread sits in the executor's wait, where no Python signal handler can run)."""

from __future__ import annotations

import signal
import time

import pytest

pytestmark = pytest.mark.ros

IDLE_NODE = """
from rclpy.node import Node
from bladecell_ros.transport.node_utils import run_nodes

def make_nodes():
    node = Node("idle_probe")
    print("ready", flush=True)
    return [node]

run_nodes(make_nodes, [])
print("clean exit", flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_idle_node_stops_cleanly_on(signum: int, ros_processes, tmp_path) -> None:
    script = tmp_path / "idle_node.py"
    script.write_text(IDLE_NODE)
    proc = ros_processes.start([str(script)], name=f"idle-{signum}")
    deadline = time.monotonic() + 60
    while "ready" not in ros_processes.log_of(proc):
        assert proc.poll() is None and time.monotonic() < deadline, ros_processes.log_of(proc)
        time.sleep(0.1)
    time.sleep(1.0)  # well into the spin

    proc.send_signal(signum)
    assert proc.wait(20) == 0, ros_processes.log_of(proc)
    assert "clean exit" in ros_processes.log_of(proc)
