"""`run_nodes`: Ctrl-C and SIGTERM both end the spin cleanly, also for a node that is idle (no timer,
no traffic: the main thread sits in the executor's wait, where no Python signal handler can run), and
a stop that comes while a node process of `bladecell up` is still importing its heavy modules."""

from __future__ import annotations

import signal
import time
from pathlib import Path

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

# a node module whose import takes as long as the test wants (torch under load: seconds)
SLOW_IMPORT_NODE = """
import pathlib, time
here = pathlib.Path(__file__).parent
(here / "importing").write_text("")
while not (here / "go").exists():
    time.sleep(0.02)

from rclpy.node import Node
from bladecell_ros.transport.node_utils import run_nodes

def main():
    run_nodes(lambda: [Node("slow_import_probe")])
    print("clean exit", flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_idle_node_stops_cleanly_on(signum: int, ros_processes, ros_probe, tmp_path) -> None:
    from ros_support import wait_until

    script = tmp_path / "idle_node.py"
    script.write_text(IDLE_NODE)
    proc = ros_processes.start([str(script)], name=f"idle-{signum}")

    def spin() -> None:
        assert proc.poll() is None, ros_processes.log_of(proc)
        ros_probe.spin_once()

    # discovered by another participant: the node is built and its process is in the spin
    wait_until(lambda: "idle_probe" in ros_probe.node.get_node_names(), 120, spin, "the idle node")
    proc.send_signal(signum)
    assert proc.wait(60) == 0, ros_processes.log_of(proc)
    assert "clean exit" in ros_processes.log_of(proc)


def _blocked_signals(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return int(line.split()[1], 16)
    raise AssertionError("no SigBlk line")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_while_a_node_module_is_still_importing_is_a_clean_stop(signum: int, tmp_path) -> None:
    """The model designer used to die by SIGINT (exit -2) when `up` stopped while it imported torch."""
    import os

    from bladecell_ros.bringup.cell_graph import CellGraph
    from bladecell_ros.bringup.graph import ProcessSpec

    pkg = tmp_path / "mods" / "slow"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "node.py").write_text(SLOW_IMPORT_NODE)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'mods'}:{os.environ.get('PYTHONPATH', '')}"}
    graph = CellGraph(
        [], tmp_path / "logs", specs=[ProcessSpec("slow", "slow.node", ("slow_import_probe",))], env=env
    )
    graph.start()
    proc = graph.procs["slow"]
    try:
        deadline = time.monotonic() + 120
        while not (pkg / "importing").exists():
            assert proc.poll() is None and time.monotonic() < deadline, graph.log_path("slow").read_text()
            time.sleep(0.02)
        blocked = _blocked_signals(proc.pid)
        assert blocked & (1 << (signal.SIGINT - 1)) and blocked & (1 << (signal.SIGTERM - 1))
        proc.send_signal(signum)  # what `up`'s stop does, in the middle of the import
        (pkg / "go").write_text("")
        assert proc.wait(120) == 0, graph.log_path("slow").read_text()
    finally:
        graph.stop(timeout=10)
    log = graph.log_path("slow").read_text()
    assert "clean exit" in log and "Traceback" not in log
