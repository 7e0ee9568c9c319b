"""A node process started by `bladecell up` stops cleanly when `up` dies without stopping it.

`up` stops its nodes with SIGINT; if `up` itself is SIGKILLed (or crashes), nothing would, and the nodes
would keep running, holding the cell's topics and the CPU. The bring-up names itself in
`BLADECELL_PARENT_PID`; the node watches its parent pid and, once the process was re-parented (its
parent is gone), sends itself SIGTERM, which `run_nodes` turns into the same clean shutdown as Ctrl-C.

Polling the parent pid is used instead of Linux's PR_SET_PDEATHSIG because that signal fires when the
*thread* that started the child exits, not the process, and it needs ctypes and Linux.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Mapping

PARENT_ENV = "BLADECELL_PARENT_PID"


def expected_parent(env: Mapping[str, str] | None = None) -> int | None:
    """The pid `bladecell up` recorded for this process, or None when started some other way."""
    value = (os.environ if env is None else env).get(PARENT_ENV, "")
    return int(value) if value.isdigit() else None


def _stop_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def watch_parent(
    parent: int | None, on_orphaned: Callable[[], None] = _stop_self, interval: float = 0.5
) -> threading.Thread | None:
    """Call `on_orphaned` once, from a daemon thread, as soon as this process's parent is no longer
    `parent`. None (no parent to watch) starts nothing."""
    if parent is None:
        return None

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        on_orphaned()

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread
