"""End the test process as soon as pytest has reported, whatever the libraries left running.

Why: CI once printed a green summary (1,014 passed) and then never exited; it was killed after
5,400 s. After the summary only interpreter finalisation is left: joining thread-pool workers
(the simulator's GL and work pools), C++ static destructors (Fast DDS participants of in-process
ROS nodes) and EGL clean-up. Any of them can block on a loaded machine, and none of them is under
test. So the process reports what is still alive (non-daemon threads, child processes), stops its
own children, and leaves with pytest's exit status through ``os._exit``.

``BLADECELL_TEST_NORMAL_EXIT=1`` keeps the ordinary finalisation, to look for such a hang. The
root conftest imports the two hooks; ``-p exit_guard`` loads them into any other pytest run.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable

import psutil
import pytest

CHILD_GRACE_S = 5.0


def leftover_threads() -> list[str]:
    """Names of the non-daemon threads, other than the main one, that interpreter exit would join."""
    main = threading.main_thread()
    return sorted(t.name for t in threading.enumerate() if t is not main and t.is_alive() and not t.daemon)


def stop_children(grace_s: float = CHILD_GRACE_S) -> list[str]:
    """Terminate this process's descendants (then kill what is left after ``grace_s``); returns them."""
    children = psutil.Process().children(recursive=True)
    described = []
    for child in children:
        try:
            described.append(f"{child.pid} {' '.join(child.cmdline())[:160]}")
            child.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(children, timeout=grace_s)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    return described


def exit_now(status: int, report: Callable[[str], None]) -> None:
    """Report leftovers through ``report``, stop children, flush, and ``os._exit(status)``."""
    threads = leftover_threads()
    if threads:
        report(f"exit guard: non-daemon threads still alive at the end: {', '.join(threads)}")
    children = stop_children()
    for child in children:
        report(f"exit guard: stopped a child process the tests left running: {child}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


_EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave as soon as every plugin has unconfigured (the terminal summary is written by then)."""
    if _EXIT_STATUS not in config.stash or os.environ.get("BLADECELL_TEST_NORMAL_EXIT") == "1":
        return
    if "PYTEST_XDIST_WORKER" in os.environ:  # a worker still reports to its controller after this
        return
    terminal = config.pluginmanager.get_plugin("terminalreporter")

    def report(line: str) -> None:
        if terminal is not None:
            terminal.write_line(line, yellow=True)
            terminal._tw.flush()
        else:
            print(line, file=sys.__stderr__, flush=True)

    exit_now(config.stash[_EXIT_STATUS], report)
