"""A supervised cell (`bladecell up`): a node process killed mid-cycle is restarted by the supervisor,
the technician's `bladecell inspect` ends with one line naming the next step (no traceback), and
`inspect --resume` completes the cycle with nothing lost or duplicated."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
from cell_helpers import BASE_PARAMS, FAMILY, deploy_model, merge, write_params

pytestmark = pytest.mark.ros

SERIAL = "SN-SUP-1"


def _node_process(up: psutil.Process, module: str) -> psutil.Process:
    for child in up.children(recursive=True):
        try:
            if module in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                return child
        except psutil.Error:  # a killed child not reaped yet
            continue
    raise AssertionError(f"no child process runs {module}")


def _counts(cycle_uuid: str) -> tuple[int, int, int]:
    """(cycles, captures, defects) recorded for the cycle in the database."""
    import uuid

    from sqlalchemy import func, select

    from database.engine import create_db_engine, make_session_factory
    from database.orm import Capture, Defect, InspectionCycle
    from database.settings import load_settings

    engine = create_db_engine(load_settings().url)
    try:
        with make_session_factory(engine)() as session:
            ids = session.scalars(
                select(InspectionCycle.id).where(InspectionCycle.cycle_uuid == uuid.UUID(cycle_uuid))
            ).all()
            captures = session.scalar(
                select(func.count()).select_from(Capture).where(Capture.cycle_id.in_(ids))
            )
            defects = session.scalar(select(func.count()).select_from(Defect).where(Defect.cycle_id.in_(ids)))
            return len(ids), int(captures or 0), int(defects or 0)
    finally:
        engine.dispose()


def test_coordinator_killed_mid_cycle_is_restarted_and_resume_completes(
    ros_processes, cell_home, tmp_path, tiny_model_dir
) -> None:
    from bladecell_ros.bringup.session import detections_of
    from bladecell_ros.services.capture_store import CaptureStore
    from bladecell_ros.transport.client import CellClient
    from ros_support import wait_until

    deploy_model(tiny_model_dir)
    params = write_params(
        tmp_path / "params.yaml",
        merge(
            BASE_PARAMS,
            {"sim_cell": {"timing": "realtime", "speed": 4.0}, "cell_coordinator": {"max_viewpoints": 5}},
        ),
    )
    up = ros_processes.start(
        [
            "-m",
            "bladecell_ros.cli",
            "up",
            "--sim",
            "--params",
            str(params),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        name="up",
    )
    with CellClient() as client:
        client.wait_for_coordinator(180)
        first = ros_processes.start(
            ["-m", "bladecell_ros.cli", "inspect", "--serial", SERIAL, "--family", FAMILY], name="inspect-1"
        )
        client.wait_status(lambda s: s.state == "SCANNING" and s.viewpoint_index >= 1, 180, "the scan to run")
        coordinator = _node_process(psutil.Process(up.pid), "bladecell_ros.nodes.coordinator")
        os.killpg(coordinator.pid, signal.SIGKILL)  # a crash: the supervisor, not the test, restarts it

        assert first.wait(120) == 1, ros_processes.log_of(first)
        said = ros_processes.log_of(first)
        assert "Traceback" not in said
        assert "cell coordinator went away during the cycle" in said
        assert f"bladecell inspect --serial {SERIAL} --resume" in said

        def restarted() -> bool:
            assert up.poll() is None, ros_processes.log_of(up)
            return "cell_coordinator crashed (killed by SIGKILL); restarting it" in ros_processes.log_of(up)

        wait_until(restarted, 60, lambda: time.sleep(0.05), "the supervisor's restart line")
        client.wait_for_coordinator(180)  # the restarted coordinator is discovered
        second = ros_processes.start(
            ["-m", "bladecell_ros.cli", "inspect", "--serial", SERIAL, "--resume"], name="inspect-2"
        )
        assert second.wait(600) == 0, ros_processes.log_of(second)
        assert "DONE" in ros_processes.log_of(second)
    assert up.poll() is None  # the cell kept running throughout
    journals = list((cell_home / "cycles").glob("*.json"))
    assert len(journals) == 1  # resumed, not a new cycle
    cycle_id = journals[0].stem
    detections = detections_of(cell_home, FAMILY, cycle_id)
    assert detections is not None
    assert len(CaptureStore(cell_home).refs(FAMILY, cycle_id=cycle_id)) == 5  # none lost, none twice
    assert _counts(cycle_id) == (1, 5, len(detections.defects))
    up.send_signal(signal.SIGINT)
    assert up.wait(120) == 0, ros_processes.log_of(up)
