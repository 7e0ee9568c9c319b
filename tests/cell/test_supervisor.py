"""`bringup.supervisor`: crashed processes are restarted within a budget, with back-off, in one line each;
a process over budget stops the cell with one line; processes stopped on purpose are left alone.

The processes are real children started by `CellGraph` (a stand-in module instead of a ROS node), the
clock is a fake one so the back-off is checked without waiting for it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from bladecell_ros.bringup.cell_graph import CellGraph
from bladecell_ros.bringup.graph import ProcessSpec
from bladecell_ros.bringup.supervisor import (
    OverBudgetError,
    RestartBudget,
    RestartPolicy,
    Supervisor,
    describe_exit,
)

# crashes (exit 3) on every start while the file `crash` exists, else runs until stopped
NODE = """
import pathlib, sys, time

def main():
    here = pathlib.Path(__file__).parent
    with open(here / "starts", "a") as f:
        f.write("x")
    if (here / "crash").exists():
        sys.exit(3)
    time.sleep(600)
"""


def test_budget_allows_max_restarts_in_the_window_with_doubling_back_off() -> None:
    budget = RestartBudget(RestartPolicy(max_restarts=3, window_s=60.0, backoff_s=1.0, max_backoff_s=3.0))
    delays = []
    for t in (0.0, 1.0, 2.0):
        delays.append(budget.next_delay(t))
        budget.spend(t)
    assert delays == [1.0, 2.0, 3.0]  # doubling, capped at max_backoff_s
    assert budget.next_delay(10.0) is None  # 3 restarts within 60 s: spent
    assert budget.next_delay(60.5) == 3.0  # the first left the window: 2 in it, 4 s capped to 3
    assert budget.next_delay(61.5) == 2.0  # 1 in it
    assert budget.in_window(62.5) == 0


@pytest.mark.parametrize(
    "kwargs", [{"max_restarts": -1}, {"window_s": 0}, {"backoff_s": 5, "max_backoff_s": 1}]
)
def test_policy_refuses_nonsense(kwargs) -> None:
    with pytest.raises(ValueError):
        RestartPolicy(**kwargs)


def test_exit_codes_are_described_for_people() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(3) == "exit code 3"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _wait(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def graph(tmp_path: Path):
    pkg = tmp_path / "mods" / "standin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "node.py").write_text(NODE)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'mods'}:{os.environ.get('PYTHONPATH', '')}"}
    graph = CellGraph(
        [], tmp_path / "logs", specs=[ProcessSpec("standin", "standin.node", ("standin",))], env=env
    )
    graph.start()
    yield graph, pkg
    graph.stop(timeout=5)


def _starts(pkg: Path) -> int:
    path = pkg / "starts"
    return len(path.read_text()) if path.exists() else 0


def test_a_crashed_process_is_restarted_after_its_back_off_and_said_so_in_one_line(graph) -> None:
    graph, pkg = graph
    clock, lines = FakeClock(), []
    sup = Supervisor(graph, RestartPolicy(max_restarts=3, window_s=60.0), log=lines.append, clock=clock)
    _wait(lambda: _starts(pkg) == 1, "the first start")
    assert sup.poll() == [] and lines == []  # running: nothing to do
    os.killpg(graph.procs["standin"].pid, signal.SIGKILL)  # a crash (not CellGraph.kill)
    _wait(lambda: graph.dead(), "the process to die")
    assert sup.poll() == []  # back-off of 1 s not over yet
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "standin crashed (killed by SIGKILL); restarting it in 1 s (restart 1 of 3" in lines[0]
    assert sup.poll() == []  # still waiting, and no second line
    clock.now += 1.0
    assert sup.poll() == ["standin"]
    _wait(lambda: _starts(pkg) == 2, "the restart")
    assert graph.procs["standin"].poll() is None and len(lines) == 1


def test_a_process_over_budget_stops_the_cell_with_one_line(graph) -> None:
    graph, pkg = graph
    clock, lines = FakeClock(), []
    sup = Supervisor(graph, RestartPolicy(max_restarts=2, window_s=60.0), log=lines.append, clock=clock)
    _wait(lambda: _starts(pkg) == 1, "the first start")
    (pkg / "crash").write_text("")
    os.killpg(graph.procs["standin"].pid, signal.SIGKILL)
    for restart in (1, 2):
        _wait(lambda: graph.dead(), f"crash before restart {restart}")
        sup.poll()
        clock.now += 10.0
        assert sup.poll() == ["standin"]
        _wait(lambda n=restart + 1: _starts(pkg) == n, f"restart {restart}")
    assert [line.split(";")[1].split("(")[0].strip() for line in lines] == [
        "restarting it in 1 s",
        "restarting it in 2 s",
    ]
    _wait(lambda: graph.dead(), "the third crash")
    with pytest.raises(OverBudgetError) as err:
        sup.poll()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("standin crashed 3 times within 60 s (last: exit code 3); stopping the cell")


def test_a_process_stopped_on_purpose_is_not_restarted(graph) -> None:
    graph, _pkg = graph
    clock, lines = FakeClock(), []
    sup = Supervisor(graph, log=lines.append, clock=clock)
    graph.kill("standin")
    clock.now += 100.0
    assert sup.poll() == [] and lines == []
    assert graph.procs["standin"].poll() is not None
