"""Entry point of every node process `bladecell up` starts: stop signals blocked before any heavy import.

`python -m bladecell_ros.nodes.model_designer` imports torch (seconds under load) before its `main`
reaches `run_nodes`, which used to be the first place Ctrl-C and SIGTERM were blocked: a bring-up
stopped during that import killed the process by SIGINT (exit -2). Here the two signals are blocked
first, then the node's module is imported and its `main()` run; `run_nodes` unblocks them once the
nodes are built, so a stop that came during the import or the construction is a clean stop then.
`CellGraph.start` also starts the process with them blocked (the mask survives exec), which closes the
few milliseconds of interpreter start-up as well.

    python -m bladecell_ros.bringup.node_process bladecell_ros.nodes.detector --ros-args ...
"""

from __future__ import annotations

import signal
import sys

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def block_stop_signals() -> None:
    """Hold Ctrl-C and SIGTERM pending (in this thread and every thread started from it)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def main(argv: list[str] | None = None) -> None:
    block_stop_signals()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        sys.exit("usage: python -m bladecell_ros.bringup.node_process MODULE [--ros-args ...]")
    import importlib

    module = importlib.import_module(args[0])
    sys.argv = [args[0], *args[1:]]
    module.main()
    exit_without_teardown()


def exit_without_teardown(code: int = 0) -> None:
    """Leave at once once `main` has returned (nodes destroyed, rclpy shut down), with the ROS context
    (the DDS participant and its shared-memory segments) destroyed first, in order.

    The interpreter's own teardown would then collect what rclpy and DDS left behind (the executor's
    tasks, handles, participant threads) in no defined order. A recorder stopped by Ctrl-C once exited
    by SIGSEGV with no Python traceback (a CI run's bring-up test; not reproduced in 30 stops here, so
    where it crashed is not known: this teardown is the likeliest place, and faulthandler now records
    the place if it is elsewhere). Nothing of the cell's is lost by skipping it: every write is
    committed or atomically renamed before a node returns.
    """
    import logging
    import os

    import rclpy

    rclpy.get_default_context().destroy()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
