"""`bladecell up --sim`: starts the whole graph, every node is discovered, Ctrl-C stops it cleanly."""

from __future__ import annotations

import signal

import psutil
import pytest
from cell_helpers import BASE_PARAMS, write_params

pytestmark = pytest.mark.ros

#: a loaded 2-core machine needs minutes to import torch in six processes at once
UP_SLOW = ("--timeout", "400")
BRINGUP_S = 420


def test_up_starts_every_node_and_ctrl_c_stops_them_all(
    ros_processes, ros_probe, cell_home, tmp_path
) -> None:
    from bladecell_ros.bringup.graph import SIM_GRAPH, all_nodes
    from ros_support import wait_until

    params = write_params(tmp_path / "params.yaml", BASE_PARAMS)
    logs = tmp_path / "logs"
    up = ros_processes.start(
        ["-m", "bladecell_ros.cli", "up", "--sim", "--params", str(params), "--log-dir", str(logs), *UP_SLOW],
        name="up",
    )
    expected = all_nodes()
    assert len(expected) == 9

    def spin() -> None:
        assert up.poll() is None, ros_processes.log_of(up)
        ros_probe.spin_once()

    wait_until(
        lambda: expected <= set(ros_probe.node.get_node_names()), BRINGUP_S, spin, "every node of the graph"
    )
    wait_until(lambda: "cell up" in ros_processes.log_of(up), BRINGUP_S, spin, "the bring-up to report ready")
    children = psutil.Process(up.pid).children(recursive=True)
    assert len(children) == len(SIM_GRAPH)

    up.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal does
    assert up.wait(120) == 0, ros_processes.log_of(up)
    _gone, alive = psutil.wait_procs(children, timeout=60)
    assert not alive
    log = ros_processes.log_of(up)
    for spec in SIM_GRAPH:
        assert f"{spec.name} (0)" in log  # every node process exited cleanly on SIGINT
    wait_until(
        lambda: not expected & set(ros_probe.node.get_node_names()),
        60,
        ros_probe.spin_once,
        "the nodes to leave",
    )
    for spec in SIM_GRAPH:
        assert "Traceback" not in (logs / f"{spec.name}.log").read_text()


def test_nodes_stop_by_themselves_when_up_is_killed(ros_processes, ros_probe, cell_home, tmp_path) -> None:
    """SIGKILL leaves `up` no chance to stop its nodes: each notices its parent is gone and shuts down."""
    from bladecell_ros.bringup.graph import SIM_GRAPH, all_nodes
    from ros_support import wait_until

    params = write_params(tmp_path / "params.yaml", BASE_PARAMS)
    logs = tmp_path / "logs"
    up = ros_processes.start(
        ["-m", "bladecell_ros.cli", "up", "--sim", "--params", str(params), "--log-dir", str(logs), *UP_SLOW],
        name="up",
    )

    def spin() -> None:
        assert up.poll() is None, ros_processes.log_of(up)
        ros_probe.spin_once()

    wait_until(lambda: "cell up" in ros_processes.log_of(up), BRINGUP_S, spin, "the bring-up to report ready")
    children = psutil.Process(up.pid).children(recursive=True)
    assert len(children) == len(SIM_GRAPH)

    up.kill()
    up.wait(10)
    _gone, alive = psutil.wait_procs(children, timeout=60)
    assert not alive, [p.cmdline()[-1] for p in alive]
    wait_until(
        lambda: not all_nodes() & set(ros_probe.node.get_node_names()),
        60,
        ros_probe.spin_once,
        "the nodes to leave",
    )
    for spec in SIM_GRAPH:
        assert "Traceback" not in (logs / f"{spec.name}.log").read_text()


def test_up_without_sim_explains_what_is_missing(ros_processes, cell_home) -> None:
    proc = ros_processes.start(["-m", "bladecell_ros.cli", "up"], name="up-real")
    assert proc.wait(60) == 2
    assert "vendor drivers" in ros_processes.log_of(proc)


@pytest.mark.parametrize(("module", "vendor"), [("arm_driver", "ur_rtde"), ("imaging", "GigE Vision")])
def test_real_driver_nodes_name_the_missing_vendor_driver(ros_processes, module, vendor) -> None:
    proc = ros_processes.start(
        ["-m", f"bladecell_ros.nodes.{module}", "--ros-args", "-p", "driver:=real"], name=f"{module}-real"
    )
    assert proc.wait(60) != 0
    log = ros_processes.log_of(proc)
    assert "NotImplementedError" in log and vendor in log


@pytest.mark.parametrize("moment", ["processes started", "first node discovered"])
def test_ctrl_c_at_any_moment_of_start_up_stops_everything_without_a_traceback(
    moment, ros_processes, ros_probe, cell_home, tmp_path
) -> None:
    """Ctrl-C while the node processes are still starting (interpreter, torch imports) or building their
    nodes: `up` says so in one line, every process ends, and no log has a traceback."""
    from bladecell_ros.bringup.graph import SIM_GRAPH, all_nodes
    from ros_support import wait_until

    params = write_params(tmp_path / "params.yaml", BASE_PARAMS)
    logs = tmp_path / "logs"
    up = ros_processes.start(
        ["-m", "bladecell_ros.cli", "up", "--sim", "--params", str(params), "--log-dir", str(logs), *UP_SLOW],
        name="up",
    )

    def spin() -> None:
        assert up.poll() is None, ros_processes.log_of(up)
        ros_probe.spin_once()

    if moment == "processes started":
        wait_until(
            lambda: all((logs / f"{s.name}.log").is_file() for s in SIM_GRAPH),
            BRINGUP_S,
            spin,
            "every process",
        )
    else:
        wait_until(
            lambda: all_nodes() & set(ros_probe.node.get_node_names()), BRINGUP_S, spin, "a first node"
        )
    children = psutil.Process(up.pid).children(recursive=True)
    up.send_signal(signal.SIGINT)
    assert up.wait(180) == 130, ros_processes.log_of(up)
    said = ros_processes.log_of(up)
    assert "start-up interrupted; the cell is stopped" in said and "Traceback" not in said
    _gone, alive = psutil.wait_procs(children, timeout=60)
    assert not alive, [p.cmdline()[-1] for p in alive]
    for spec in SIM_GRAPH:
        log = logs / f"{spec.name}.log"
        assert not log.is_file() or "Traceback" not in log.read_text(), log.read_text()
