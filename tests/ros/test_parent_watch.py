"""A process started by `bladecell up` stops by itself (SIGTERM) once `up` is gone, and not before."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from bladecell_ros.bringup.parent_watch import PARENT_ENV, expected_parent

# the node stand-in: turns SIGTERM into a clean exit that leaves a mark, like run_nodes' shutdown
CHILD = """
import signal, sys, time
from bladecell_ros.bringup.parent_watch import expected_parent, watch_parent

def stop(signum, frame):
    open(sys.argv[1], "w").write("stopped by SIGTERM")
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
watch_parent(expected_parent(), interval=0.1)
time.sleep(120)
"""

# the `bladecell up` stand-in: starts the child the way CellGraph.start does and prints its pid
PARENT = """
import os, subprocess, sys, time
from bladecell_ros.bringup.parent_watch import PARENT_ENV
child = subprocess.Popen(
    [sys.executable, sys.argv[1], sys.argv[2]], env={**os.environ, PARENT_ENV: str(os.getpid())},
    start_new_session=True,
)
print(child.pid, flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize(("value", "pid"), [("1234", 1234), ("", None), ("up", None), ("-5", None)])
def test_expected_parent_reads_the_pid_up_recorded(value: str, pid: int | None) -> None:
    assert expected_parent({PARENT_ENV: value}) == pid
    assert expected_parent({}) is None


def test_child_stops_cleanly_once_its_parent_is_killed(tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(textwrap.dedent(CHILD))
    mark = tmp_path / "stopped"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "child.py"), str(mark)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        time.sleep(1.0)  # ten polls with the parent alive: the child must keep running
        assert child.is_running() and not mark.exists()

        parent.kill()  # SIGKILL: the parent cannot stop its child itself
        parent.wait(10)
        gone, _ = psutil.wait_procs([child], timeout=10)
        assert gone, "the orphaned child is still running"
        assert mark.read_text() == "stopped by SIGTERM"
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.stdout.close()
