"""Fixtures of the cell tests: a fresh data root + database per test, the simulated cell's process graph
(started with `bladecell_ros.bringup.cell_graph.CellGraph`, the same code as `bladecell up --sim`), a
client node, and a tiny model for tests that must not spend time designing one.

Every wait is on a condition (discovered nodes, action servers, CellStatus messages) with generous
timeouts; nothing sleeps a fixed time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cell_helpers import BASE_PARAMS, RunningCell, design_tiny_model, merge, write_params

pytest.importorskip("rclpy", reason="ROS 2 wheels not installed (run scripts/setup.sh)")
pytest.importorskip("bladecell_interfaces.msg", reason="bladecell_interfaces not built")


@pytest.fixture
def cell_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own data root and SQLite database (migrated), inherited by the cell's processes."""
    from database import migrate

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("BLADECELL_HOME", str(home))
    if "BLADECELL_DATABASE_URL" not in os.environ:
        migrate.upgrade(f"sqlite:///{home / 'bladecell.sqlite3'}")
    return home


@pytest.fixture(autouse=True)
def cell_ros_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cell's ROS settings (localhost discovery, its Fast DDS profile) in this process too, before
    any probe or client node is created."""
    from bladecell_ros.bringup.graph import cell_environment

    for key, value in cell_environment().items():
        if key.startswith(("ROS_", "FASTDDS_")):
            monkeypatch.setenv(key, value)


@pytest.fixture
def start_cell(tmp_path: Path, cell_home: Path) -> Iterator[Callable[..., RunningCell]]:
    """Factory: start the simulated graph with BASE_PARAMS + overrides; everything stops at teardown."""
    from bladecell_ros.bringup.cell_graph import CellGraph
    from bladecell_ros.bringup.graph import SIM_PARAMS
    from bladecell_ros.transport.client import CellClient

    started: list[RunningCell] = []

    def start(overrides: dict | None = None, timeout: float = 300.0) -> RunningCell:
        params = write_params(tmp_path / f"params{len(started)}.yaml", merge(BASE_PARAMS, overrides or {}))
        graph = CellGraph([SIM_PARAMS, params], tmp_path / "logs")
        client = CellClient()
        cell = RunningCell(graph, client, cell_home)
        started.append(cell)
        graph.start()
        graph.wait_discovered(client.node_names, timeout)
        client.wait_for_coordinator(timeout)
        return cell

    yield start
    for cell in started:
        cell.client.close()
        cell.graph.stop()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model for the simulated captures designed with a minimal AutoNAD budget (seconds): for the
    fault tests, which need *a* deployed model, not a good one."""
    return design_tiny_model(tmp_path_factory.mktemp("tiny_model"))
