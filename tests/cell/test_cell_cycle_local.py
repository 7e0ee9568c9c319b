"""The coordinator's cycle logic (CycleRunner + CellCycleSteps) on the simulated cell, without ROS:
the whole flow, resume without re-capturing, e-stop during motion, detection faults leave nothing
half-written. The devices are the simulator's; the store, detector core and recorder are the real ones."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from local_cell import FAMILY, OracleCell, make_context, make_world

from platform_control.cycle import EStopLatchedError
from platform_control.cycle.detections import DetectionsFile
from platform_control.cycle.refs import detections_path
from platform_control.cycle.runner import CycleRunner, NothingToResumeError, new_cycle_id
from platform_control.cycle.services import CycleJob
from platform_control.hardware import EStopActive
from platform_control.params import load_stage_params


def _runner(home, scan_axes, worlds, timing="deterministic", speed=1.0):
    world = make_world(home, timing, speed)
    worlds.append(world)
    services = OracleCell(world, home)
    events = []
    runner = CycleRunner(services, make_context(home), scan_axes, on_event=lambda e, job: events.append(e))
    return world, services, runner, events


def _job(serial: str) -> CycleJob:
    return CycleJob(new_cycle_id(), serial, FAMILY, operator="tester")


def _recorded(cycle_uuid: str):
    import uuid

    from sqlalchemy import select

    from database.engine import create_db_engine, make_session_factory
    from database.orm import Defect, InspectionCycle
    from database.settings import load_settings

    with make_session_factory(create_db_engine(load_settings().url))() as session:
        cycle = session.scalar(
            select(InspectionCycle).where(InspectionCycle.cycle_uuid == uuid.UUID(cycle_uuid))
        )
        defects = (
            [] if cycle is None else list(session.scalars(select(Defect).where(Defect.cycle_id == cycle.id)))
        )
        return cycle, defects


def test_first_cycle_scans_designs_detects_records_and_unloads(home, scan_axes, worlds) -> None:
    world, services, runner, events = _runner(home, scan_axes, worlds)
    job = _job("SN-L-1")
    out = runner.run_new(job)
    assert out.final_state == "DONE", out.message
    states = [str(e.progress.state) for e in events if e.kind == "state"]
    assert states == ["LOADING", "SCANNING", "DESIGNING", "DETECTING", "RECORDING", "UNLOADING", "DONE"]
    assert out.viewpoint_count == out.captures == 3 and dict(services.capture_calls) == {0: 1, 1: 1, 2: 1}
    assert len(services.designs) == 1 and out.model_version == services.designs[0]
    deployed = services.registry.deployed_for(FAMILY)
    assert deployed.version == out.model_version and deployed.metrics == {"miou": 1.0, "iou.background": 1.0}
    assert set(out.stage_timings) == {
        "LOADING",
        "SCANNING",
        "DESIGNING",
        "DETECTING",
        "RECORDING",
        "UNLOADING",
    }
    # the oracle model reproduces the ground truth: the regions are the truth's regions, with sizes
    detections = DetectionsFile.of_cycle(home, job.part_family, job.cycle_id)
    assert detections is not None and detections.model_version == out.model_version
    truth_pixels = sum(
        int(np.count_nonzero(services.captures.load(r).label)) for r in services.captures.refs(FAMILY)
    )
    assert truth_pixels > 0
    assert sum(d["pixel_area"] for d in detections.defects) <= truth_pixels
    assert all(d["area_mm2"] > 0 and d["location_mm"] is not None for d in detections.defects)
    assert out.defect_count == len(detections.defects) > 0
    # recorded once, with its captures, defects and the blade's verdict; unloaded accordingly
    cycle, defects = _recorded(job.cycle_id)
    assert cycle is not None and cycle.defect_count == len(defects) == out.defect_count
    assert cycle.verdict.value == out.verdict == detections.verdict
    assert world.blade_holder == ("reject_bin" if out.verdict == "fail" else "tray")
    np.testing.assert_allclose(world.arm.joint_state().positions, world.pick_place.home, atol=1e-3)

    # the next cycle reuses the deployed model (no design); a rejected blade was replaced in the tray
    second = runner.run_new(_job("SN-L-2"))
    assert second.final_state == "DONE" and len(services.designs) == 1
    assert second.model_version == out.model_version


def test_capture_fault_then_resume_completes_without_recapturing(home, scan_axes, worlds) -> None:
    world, services, runner, _ = _runner(home, scan_axes, worlds)
    services.deploy_oracle()
    services.fail_capture_at = {2}
    job = _job("SN-L-3")
    out = runner.run_new(job)
    assert out.final_state == "FAULTED" and "imaging" in out.message and out.captures == 2
    refs_before = services.captures.refs(FAMILY, cycle_id=job.cycle_id)
    stamps = [(home / r).stat().st_mtime_ns for r in refs_before]
    assert world.blade_holder == "fixture"
    with pytest.raises(NothingToResumeError):
        runner.run_resume("SN-OTHER")
    # the halt latched the drives; the coordinator resets them before a resume
    with pytest.raises(EStopActive):
        world.stage.follow(_stay(world))
    world.arm.reset()
    world.stage.reset()
    resumed = runner.run_resume("SN-L-3")
    assert resumed.final_state == "DONE" and resumed.cycle_id == job.cycle_id, resumed.message
    assert dict(services.capture_calls) == {0: 1, 1: 1, 2: 2}  # only the failed viewpoint again
    assert [(home / r).stat().st_mtime_ns for r in refs_before] == stamps
    assert len(services.captures.refs(FAMILY, cycle_id=job.cycle_id)) == 3
    assert _recorded(job.cycle_id)[0] is not None


def _stay(world):
    from platform_control.trajectory import time_parameterize

    p = load_stage_params()
    here = world.stage.joint_state().positions
    return time_parameterize(np.array([here, here + 0.001]), p.max_velocity, p.max_acceleration, p.axis_names)


def test_estop_during_loading_halts_and_latches_until_reset(home, scan_axes, worlds) -> None:
    world, services, runner, _ = _runner(home, scan_axes, worlds, timing="realtime", speed=2.0)
    services.deploy_oracle()
    job = _job("SN-L-4")
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("r", runner.run_new(job)), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while np.abs(world.arm.joint_state().velocities).max() < 0.05:
        assert time.monotonic() < deadline and thread.is_alive(), "the arm never moved"
        time.sleep(0.005)
    runner.estop("test e-stop")
    thread.join(30)
    result = out["r"]
    assert result.final_state == "FAULTED" and "e-stop" in result.message
    assert np.abs(world.arm.joint_state().velocities).max() < 1e-3  # braked to standstill
    held = world.arm.joint_state().positions
    with pytest.raises(EStopActive):
        world.stage.follow(_stay(world))
    with pytest.raises(EStopLatchedError):
        runner.run_resume("SN-L-4")
    np.testing.assert_allclose(world.arm.joint_state().positions, held, atol=1e-9)
    runner.reset_estop()
    world.arm.reset()
    world.stage.reset()
    resumed = runner.run_resume("SN-L-4")
    assert resumed.final_state == "DONE", resumed.message


def test_detection_fault_leaves_no_detections_and_no_record(home, scan_axes, worlds) -> None:
    _, services, runner, _ = _runner(home, scan_axes, worlds)
    services.deploy_oracle()
    services.fail_detect_at = {2}
    job = _job("SN-L-5")
    out = runner.run_new(job)
    assert out.final_state == "FAULTED" and "detector" in out.message
    assert not detections_path(home, job.part_family, job.cycle_id).exists()
    assert _recorded(job.cycle_id)[0] is None
    runner.services.arm.reset()
    runner.services.stage.reset()
    resumed = runner.run_resume("SN-L-5")
    assert resumed.final_state == "DONE"
    assert (
        detections_path(home, job.part_family, job.cycle_id).exists()
        and _recorded(job.cycle_id)[0] is not None
    )


def test_disk_full_while_storing_a_capture_faults_with_the_reason_and_resumes(
    home, scan_axes, worlds, monkeypatch
) -> None:
    """The data disk fills up at the second capture: every fsync from then on fails with ENOSPC, as on a
    full ext4. The cycle ends FAULTED saying so, with the blade in the fixture; nothing half-written is
    left under a valid name; once space is freed, the resume stores only what is missing."""
    import errno
    import os

    world, services, runner, _ = _runner(home, scan_axes, worlds)
    services.deploy_oracle()
    real_fsync = os.fsync
    job = _job("SN-L-6")
    original_store = services.store

    def store(job_, result):
        if result.capture.viewpoint_index == 1:

            def full(fd: int) -> None:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            monkeypatch.setattr(os, "fsync", full)
        return original_store(job_, result)

    services.store = store  # type: ignore[method-assign]
    out = runner.run_new(job)
    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed
    services.store = original_store  # type: ignore[method-assign]
    assert out.final_state == "FAULTED", out.message
    assert "the data disk is full" in out.message and "No space left on device" in out.message
    assert world.blade_holder == "fixture"
    assert not list((home / "files").rglob(".incoming-*"))  # no temporary file left behind
    refs = services.captures.refs(FAMILY, cycle_id=job.cycle_id)
    assert len(refs) == 1 and all(services.captures.load(r).capture.viewpoint_index == 0 for r in refs)
    world.arm.reset()
    world.stage.reset()
    resumed = runner.run_resume("SN-L-6")
    assert resumed.final_state == "DONE" and resumed.cycle_id == job.cycle_id, resumed.message
    assert dict(services.capture_calls) == {0: 1, 1: 2, 2: 1}
    assert len(services.captures.refs(FAMILY, cycle_id=job.cycle_id)) == 3
    cycle, _defects = _recorded(job.cycle_id)
    assert cycle is not None


@pytest.mark.parametrize(
    ("where", "nth", "state"),
    [
        ("after close", 1, "LOADING"),  # gripped in the tray, not journaled yet
        ("half-way through motion 4", 1, "LOADING"),  # carrying it to the fixture
        ("half-way through motion 5", 1, "LOADING"),  # lowering it onto the fixture
        ("after open", 1, "LOADING"),  # released on the fixture, not journaled yet
        ("half-way through motion 10", 1, "UNLOADING"),  # lifting it off the fixture
        ("before open", 2, "UNLOADING"),  # at its place, the release journaled as under way
    ],
)
def test_coordinator_killed_during_a_pick_and_place_resumes_to_done(
    home, scan_axes, worlds, where, nth, state
) -> None:
    """Issue 16: the coordinator dies in the middle of a LOAD or UNLOAD (everything in memory is lost;
    the cycle journal and the simulated world survive, the arm's drive brakes to a stop). A fresh
    runner resumes the cycle: it ends DONE with the blade where it belongs, without picking it again
    at the source (where it no longer is) or opening the gripper anywhere but at the place."""
    from dying_coordinator import CoordinatorDied, DyingArm, Killer, ProxyGripper, Witness

    world, services, runner, _ = _runner(home, scan_axes, worlds)
    services.deploy_oracle()
    killer, witness = Killer(where=where, nth=nth), Witness(world)
    receivers = {"fixture", "tray", "reject_bin"}
    services.arm, services.gripper = (
        DyingArm(world, killer, witness),
        ProxyGripper(world, killer, witness, receivers),
    )
    job = _job("SN-L-PICK")
    with pytest.raises(CoordinatorDied):
        runner.run_new(job)
    journal = home / "cycles" / f"{job.cycle_id}.json"
    assert json.loads(journal.read_text())["state"] == state
    world.arm.stop()  # the drive's protective stop; the supervisor starts a new coordinator
    world.arm.reset()

    services = OracleCell(world, home)  # the restarted coordinator: new proxies, nothing remembered
    survivor = Killer()
    services.arm, services.gripper = (
        DyingArm(world, survivor, witness),
        ProxyGripper(world, survivor, witness, receivers),
    )
    resumed = CycleRunner(services, make_context(home), scan_axes).run_resume("SN-L-PICK")
    assert resumed.final_state == "DONE" and resumed.cycle_id == job.cycle_id, resumed.message
    assert world.blade_holder == ("reject_bin" if resumed.verdict == "fail" else "tray")
    assert witness.closed_on_nothing == witness.opened_in_mid_air == witness.carried_back == []
    assert witness.grips == 2  # once in the LOAD, once in the UNLOAD
    np.testing.assert_allclose(world.arm.joint_state().positions, world.pick_place.home, atol=1e-3)
    assert json.loads(journal.read_text())["metadata"]["pick_place"]["milestone"] == "released"
