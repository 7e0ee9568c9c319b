"""Plumbing shared by the node processes: parameters, data root, spinning and a clean shutdown."""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from bladecell_ros.bringup.node_process import STOP_SIGNALS
from bladecell_ros.bringup.parent_watch import expected_parent, watch_parent

if TYPE_CHECKING:
    from bladecell_ros.services.db_outage import OutageGuard

DEFAULT_HOME = Path.home() / ".local" / "share" / "bladecell"
ESTOP_TOPIC = "estop"
#: The e-stop topic is latched: reliable, transient-local, the last state only. A node that starts (or
#: restarts) after the e-stop was pressed gets the current state from every live publisher at once.
#: Publishers AND subscribers must use it: DDS does not match a transient-local subscription with a
#: volatile publisher (from the command line: `ros2 topic pub --once --qos-durability transient_local
#: --qos-reliability reliable --qos-depth 1 /estop std_msgs/msg/Bool "{data: true}"`).
ESTOP_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def data_home() -> Path:
    """$BLADECELL_HOME (the records' data root), as `database.settings` resolves it."""
    return Path(os.environ.get("BLADECELL_HOME", DEFAULT_HOME)).expanduser().resolve()


def param(node: Node, name: str, default: Any, description: str = "") -> Any:
    """Declare a parameter and return its value."""
    from rcl_interfaces.msg import ParameterDescriptor

    return node.declare_parameter(name, default, ParameterDescriptor(description=description)).value


def outage_guard(node: Node, **delays: float) -> OutageGuard:
    """The node's `db_outage_tolerance_s` as an `OutageGuard`: every node on the cycle's path that
    touches the records database declares the same name, so one `/**` entry of the params file sets it
    for all (a float: write 60.0, not 60)."""
    from bladecell_ros.services.db_outage import DEFAULT_TOLERANCE_S, TOLERANCE_PARAM, OutageGuard

    tolerance = param(
        node,
        TOLERANCE_PARAM,
        DEFAULT_TOLERANCE_S,
        "wait this long for an unreachable records database before the cycle FAULTs (0: do not wait)",
    )
    return OutageGuard(float(tolerance), **delays)


#: a clean-up still running after this long dumps every thread's stack into the node's log (then once
#: more each period), so a node the bring-up has to SIGKILL leaves the reason behind
CLEANUP_DUMP_S = 10.0


def _ignore_signal(signum: int, frame: object) -> None:
    """SIGINT handler during the clean-up (a Python no-op, so a signal already pending is consumed)."""


def run_nodes(
    make_nodes: Callable[[], Sequence[Node]], args: Sequence[str] | None = None, threads: int = 4
) -> None:
    """init -> create the nodes -> spin a MultiThreadedExecutor until Ctrl-C / SIGTERM -> clean shutdown.

    Spinning happens on the main thread, so there is no spin thread to join; SIGTERM is treated like
    Ctrl-C so a bring-up's stop is always a clean one. Both Python handlers are installed before
    `rclpy.init`, whose C handlers wake the executor and then chain to them: a Python handler alone never
    runs while an idle node's main thread waits in the executor (SIGTERM used to leave such nodes running).

    Ctrl-C and SIGTERM are blocked until the nodes are built, and in every thread rclpy and the nodes
    start meanwhile: a bring-up stopped while a node is still importing torch or opening its database
    used to kill that process by SIGINT now and then (exit -2, no traceback; reproduced under load in
    about 1 of 10 stops). A signal that arrives during construction is delivered when the spin starts.
    Processes of `bladecell up` block them even earlier, before the node's module (torch) is imported
    (`bringup.node_process`).
    One Ctrl-C then reaches the spin twice: rclpy's own SIGINT handler shuts the context down (the spin
    ends with `ExternalShutdownException`) and chains to Python's, whose `KeyboardInterrupt` follows a
    few bytecodes later, in either order; the nested handler and the no-op SIGINT handler keep the second
    out of the clean-up.

    Started by `bladecell up`, the process also stops (by SIGTERM, so cleanly) when `up` dies without
    stopping it (see `parent_watch`), also while its nodes are still being built.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    faulthandler.enable()  # a crash in native code (DDS, torch) leaves the Python stacks in the log
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the parent ignored SIGINT
    signal.signal(signal.SIGTERM, lambda *_: rclpy.try_shutdown())
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    rclpy.init(args=list(args) if args is not None else sys.argv)  # its handlers chain to the two above
    watch_parent(expected_parent())
    executor = MultiThreadedExecutor(num_threads=threads)
    nodes: Sequence[Node] = ()
    try:
        try:
            try:
                nodes = make_nodes()
            except Exception:
                if rclpy.ok():
                    raise
                # stopped while a node was being built (e.g. the parent-pid watch shut the context
                # down): its half-made node fails on the dead context; that is a clean stop, not a crash
                logging.getLogger(__name__).info("stopped while the nodes were being built")
                return
            for node in nodes:
                executor.add_node(node)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # a pending Ctrl-C arrives here
            executor.spin()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        signal.signal(signal.SIGINT, _ignore_signal)  # a late Ctrl-C cannot cut the clean-up short
    except KeyboardInterrupt:  # the second half of the Ctrl-C that stopped the spin
        signal.signal(signal.SIGINT, _ignore_signal)
    finally:
        faulthandler.dump_traceback_later(CLEANUP_DUMP_S, repeat=True)
        executor.shutdown()
        for node in nodes:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()  # the stack dumps stay armed for the interpreter's exit (thread joins)
