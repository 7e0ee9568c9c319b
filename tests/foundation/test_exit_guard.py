"""The test process ends once pytest has reported, even when a test leaves a thread or a child behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

TESTS_DIR = Path(__file__).resolve().parents[1]

LEAKY_TESTS = textwrap.dedent(
    """
    import subprocess, sys, threading

    def test_leaves_a_stuck_thread_and_a_sleeping_child():
        threading.Thread(target=threading.Event().wait, name="stuck-forever").start()
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print(f"CHILD {child.pid}")

    def test_outcome():
        assert OUTCOME
    """
)


def _run_leaky_suite(tmp_path: Path, outcome: bool) -> tuple[subprocess.CompletedProcess, int]:
    (tmp_path / "test_leaky.py").write_text(LEAKY_TESTS.replace("OUTCOME", str(outcome)))
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR)}
    env.pop("BLADECELL_TEST_NORMAL_EXIT", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "exit_guard",
            "-p",
            "no:cacheprovider",
            "-s",
            "-q",
            "test_leaky.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    child_pid = int(next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("CHILD ")))
    return done, child_pid


def test_a_stuck_thread_and_a_leftover_child_do_not_keep_the_run_alive(tmp_path: Path) -> None:
    done, child_pid = _run_leaky_suite(tmp_path, outcome=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    assert "non-daemon threads still alive at the end: stuck-forever" in done.stdout
    assert f"stopped a child process the tests left running: {child_pid}" in done.stdout
    assert not psutil.pid_exists(child_pid) or psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE


def test_a_failing_run_still_exits_with_pytests_status(tmp_path: Path) -> None:
    done, _ = _run_leaky_suite(tmp_path, outcome=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout
