"""The simulated cell's motion: real trajectories through the physics, limits, e-stop, gripper, and a
LOAD -> SCAN -> UNLOAD run with the planners' real plans that ends with the blade back in the tray."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from platform_control.coverage import CoveragePlanner
from platform_control.hardware import (
    ArmDriver,
    Camera,
    EStopActive,
    Gripper,
    LightController,
    LimitViolation,
    StageDriver,
)
from platform_control.imaging import load_imaging_plan
from platform_control.sim.cell import SimCell, SimConfig
from platform_control.sim.drivers import SimDrivers
from platform_control.sim.optics import load_optics
from platform_control.sim.scan import SimulatedCellRun, cell_motion
from platform_control.stage import StageKinematics
from platform_control.trajectory import JointTrajectory, time_parameterize
from platform_control.transforms import pose_error


def _stage_move(cell: SimCell, goal) -> JointTrajectory:
    p = cell.stage_params
    start = cell.joint_state("stage").positions
    return time_parameterize(np.array([start, goal]), p.max_velocity, p.max_acceleration, p.axis_names)


@pytest.fixture
def bare_cell():
    with SimCell(None) as cell:
        yield cell


def test_drivers_implement_the_hardware_protocols(bare_cell: SimCell) -> None:
    drivers = SimDrivers(bare_cell)
    assert isinstance(drivers.arm, ArmDriver)
    assert isinstance(drivers.stage, StageDriver)
    assert isinstance(drivers.gripper, Gripper)
    assert isinstance(drivers.lights, LightController)
    assert isinstance(drivers.camera, Camera)
    assert drivers.stage.joint_names == bare_cell.stage_params.axis_names


def test_motion_follows_the_trajectory_through_the_physics(bare_cell: SimCell) -> None:
    """Measured joint states lag the command slightly and move continuously; the goal is reached."""
    goal = np.array([0.05, -0.04, 0.12, 0.5, 1.0])
    traj = _stage_move(bare_cell, goal)
    samples = []

    def record(fraction: float) -> None:
        state = bare_cell.joint_state("stage")
        samples.append((state.stamp, state.positions.copy(), state.velocities.copy()))

    t0 = bare_cell.time
    bare_cell.follow("stage", traj, record)
    stamps = np.array([s[0] for s in samples])
    positions = np.array([s[1] for s in samples])
    reference = traj.sample(np.clip(stamps - t0, 0, traj.duration))
    error = np.abs(positions - reference).max(axis=0)
    assert len(samples) > 20 and np.all(np.diff(stamps) >= 0) and stamps[-1] > stamps[0]
    assert np.all(error < [1e-3, 1e-3, 1e-3, 1e-2, 1e-2])  # tracks closely...
    assert error.max() > 1e-7  # ...through the dynamics, not by copying the command
    mid = positions[len(positions) // 2]
    assert np.all((mid - traj.start) * (goal - traj.start) >= 0) and np.all(np.abs(mid - traj.start) > 1e-4)
    assert np.abs(np.array([s[2] for s in samples])).max() > 0.05  # it really moved with velocity
    final = bare_cell.joint_state("stage")
    assert np.all(np.abs(final.positions - goal) <= [5e-6, 5e-6, 5e-6, 5e-5, 5e-5]), final.positions - goal
    assert final.stamp >= traj.duration


@pytest.mark.parametrize(
    ("group", "index", "value"),
    [("stage", 0, 0.2), ("stage", 2, -0.01), ("stage", 3, 2.0), ("arm", 2, 3.3)],
)
def test_commands_outside_limits_fault_before_moving(
    bare_cell: SimCell, group: str, index: int, value: float
) -> None:
    before = bare_cell.joint_state(group).positions
    goal = before.copy()
    goal[index] = value
    names = bare_cell.joints[group]
    traj = time_parameterize(np.array([before, goal]), [10.0] * len(names), [10.0] * len(names), names)
    with pytest.raises(LimitViolation, match=names[index]):
        bare_cell.follow(group, traj)
    np.testing.assert_array_equal(bare_cell.joint_state(group).positions, before)


def test_too_fast_and_discontinuous_commands_fault(bare_cell: SimCell) -> None:
    stage = bare_cell.stage_params
    start = bare_cell.joint_state("stage").positions
    goal = start + np.array([0.1, 0, 0, 0, 0])
    fast = time_parameterize(
        np.array([start, goal]),
        np.array(stage.max_velocity) * 3,
        np.array(stage.max_acceleration) * 3,
        stage.axis_names,
    )
    with pytest.raises(LimitViolation, match=r"velocity|acceleration"):
        bare_cell.follow("stage", fast)
    jump = _stage_move(bare_cell, goal)
    jump = JointTrajectory(
        jump.joint_names,
        jump.times,
        jump.positions + np.array([0.02, 0, 0, 0, 0]),
        jump.velocities,
        jump.accelerations,
    )
    with pytest.raises(LimitViolation, match="starts"):
        bare_cell.follow("stage", jump)


def test_estop_from_another_thread_halts_and_latches(bare_cell: SimCell) -> None:
    traj = _stage_move(bare_cell, np.array([0.1, 0.1, 0.25, 1.0, 3.0]))
    moving = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            bare_cell.follow("stage", traj, lambda f: moving.set() if f > 0.2 else None)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert moving.wait(60)
    bare_cell.stop("stage")
    worker.join(60)
    assert len(errors) == 1 and isinstance(errors[0], EStopActive)
    halted = bare_cell.joint_state("stage").positions
    assert np.linalg.norm(halted - traj.goal) > 0.05  # it did not finish the move
    bare_cell.wait(0.3)
    np.testing.assert_allclose(bare_cell.joint_state("stage").positions, halted, atol=2e-3)
    with pytest.raises(EStopActive):
        bare_cell.follow("stage", _stage_move(bare_cell, np.zeros(5)))
    bare_cell.reset("stage")
    bare_cell.follow("stage", _stage_move(bare_cell, np.zeros(5)))
    np.testing.assert_allclose(bare_cell.joint_state("stage").positions, 0, atol=5e-5)


@pytest.mark.parametrize(
    ("group", "offset"),
    [("stage", [0.1, 0.1, 0.2, 1.0, 3.0]), ("arm", [0.8, -0.5, 0.6, 0.7, 0.9, 1.2])],
)
def test_estop_mid_trajectory_brakes_to_standstill(bare_cell: SimCell, group: str, offset: list) -> None:
    """A stop mid-move is a controlled stop through the physics: the joints ramp down together, none
    beyond its maximum acceleration (travel = braking distance v T / 2), and once `stop` returns the
    joint states report standstill and the positions stay put."""
    names = bare_cell.joints[group]
    vmax, amax = (np.asarray(v, dtype=float) for v in bare_cell.limits[group][1:])
    start = bare_cell.joint_state(group).positions
    traj = time_parameterize(np.array([start, start + np.array(offset)]), vmax, amax, names)
    at_stop: list = []

    def halt_midway(fraction: float) -> None:
        if fraction > 0.4 and not at_stop:
            at_stop.append(bare_cell.joint_state(group))
            bare_cell.stop(group)

    with pytest.raises(EStopActive):
        bare_cell.follow(group, traj, halt_midway)
    before = at_stop[0]
    after = bare_cell.joint_state(group)
    assert np.abs(before.velocities).max() > 0.1  # it was moving fast when stopped
    assert np.abs(after.velocities).max() < 1e-3  # standstill as soon as stop() returns
    ramp = (np.abs(before.velocities) / amax).max()  # the joint nearest its limit sets the ramp time
    assert after.stamp - before.stamp >= ramp - 0.02  # the ramp took simulated time
    expected = before.velocities * ramp / 2  # signed braking distance, every joint stopping with it
    travel = after.positions - before.positions
    assert np.all(np.abs(travel - expected) <= 2e-3 + 0.05 * np.abs(expected)), (travel, expected)
    assert np.linalg.norm(after.positions - traj.goal) > 0.05  # it did not finish the move
    bare_cell.wait(0.5)
    held = bare_cell.joint_state(group)
    np.testing.assert_allclose(held.positions, after.positions, atol=1e-6)
    assert np.abs(held.velocities).max() < 1e-3


def test_realtime_mode_takes_the_trajectory_time() -> None:
    with SimCell(None, SimConfig(timing="realtime")) as cell:
        traj = _stage_move(cell, np.array([0.05, 0, 0, 0, 0]))
        start = time.monotonic()
        cell.follow("stage", traj)
        assert time.monotonic() - start >= 0.95 * traj.duration > 0.3


def test_gripper_closing_on_nothing_holds_nothing(defective_blade) -> None:
    with SimCell(defective_blade) as cell:
        drivers = SimDrivers(cell)
        drivers.gripper.close()  # the arm is at home, far from the blade in the tray
        assert not drivers.gripper.holding()
        assert cell.blade_holder == "tray"


def test_load_scan_unload_ends_with_the_blade_in_the_tray(defective_blade) -> None:
    optics = load_optics().with_resolution(128, 128)
    with SimCell(defective_blade, optics=optics) as cell:
        run = SimulatedCellRun(cell)
        tray_pose = cell.tray_blade_pose
        assert pose_error(cell.blade_pose(), tray_pose)[0] < 1e-9
        stage = StageKinematics(cell.stage_params, cell.layout, cell.camera_params)
        plan = CoveragePlanner(cell.camera_params, stage).plan(defective_blade.mesh)
        assert len(plan) >= 3

        run.motion.load()
        assert cell.blade_holder == "fixture"
        dp, da = pose_error(cell.blade_pose(), run.pick_place.fixture_blade_pose)
        assert dp < 1e-3 and da < 1e-2

        captures = run.scan(plan.axes[:3])
        imaging = load_imaging_plan()
        for i, labelled in enumerate(captures):
            cap = labelled.capture
            assert cap.channels == imaging.order and cap.frames.shape == (6, 128, 128)
            np.testing.assert_allclose(cap.stage_axes, plan.axes[i], atol=1e-4)
            assert labelled.mask.shape == (128, 128)
            # the blade is in view and lit in every channel (background is 0; the dimmest channel of a
            # planned view can peak as low as 37 at this resolution, with this planner or the last one)
            assert cap.frames.max(axis=(1, 2)).min() > 30
        expected = stage.axes_to_blade_pose(plan.axes[2])
        dp, da = pose_error(cell.blade_pose(), expected)
        assert dp < 1e-3 and da < 1e-2  # the blade rode on the stage to the last viewpoint

        run.motion.unload(reject=False)
        assert cell.blade_holder == "tray"
        dp, da = pose_error(cell.blade_pose(), tray_pose)
        assert dp < 1e-3 and da < 1e-2
        np.testing.assert_allclose(cell.joint_state("arm").positions, cell.pick_place.home, atol=1e-3)


def test_unload_to_reject_bin(defective_blade) -> None:
    with SimCell(defective_blade) as cell:
        cell.place_blade("fixture")
        cell_motion(cell).unload(reject=True)
        assert cell.blade_holder == "reject_bin"
        assert cell.blade_pose()[2, 3] < cell.reject_bin_pose[2, 3]


class _GroundTruthServices:
    """`CellServices` on a bare `SimCell`: captures kept in memory, the simulator's class masks as the
    detector (one region per class a capture shows); motions are the cell's own (`cell_motion`)."""

    def __init__(self, cell: SimCell, classes: tuple[str, ...]) -> None:
        self.run = SimulatedCellRun(cell)
        self.cell, self.classes = cell, classes
        self.arm, self.stage, self.gripper = (
            self.run.drivers.arm,
            self.run.drivers.stage,
            self.run.drivers.gripper,
        )
        self.stored: dict = {}
        self.records: list = []

    def capture(self, job, viewpoint_index, stage_axes) -> str:
        from platform_control.cycle.refs import capture_ref

        labelled = self.run.capture_at(viewpoint_index, stage_axes)
        ref = capture_ref(job.part_family, job.cycle_id, viewpoint_index)
        self.stored[ref] = labelled.mask
        return ref

    def deployed_model(self, part_family, notify, cancel):
        return "ground-truth"

    def export_dataset(self, part_family):
        raise AssertionError("no design on the bare simulator")

    def design(self, part_family, dataset_dir, notify, cancel):
        raise AssertionError("no design on the bare simulator")

    def detect(self, part_family, model_version, capture_ref):
        from platform_control.cycle.services import DetectResult

        mask = self.stored[capture_ref]
        regions = [
            {"defect_class": self.classes[c], "confidence": 1.0, "area_mm2": float((mask == c).sum())}
            for c in np.unique(mask)
            if c != 0
        ]
        return DetectResult("ground-truth", regions, "", "", mask.shape[1], mask.shape[0])

    def record(self, request, notify, cancel) -> int:
        self.records.append(request)
        return len(self.records)

    def halt_motion(self) -> None:
        self.cell.stop()


def test_inspection_cycle_runs_on_the_simulated_cell(defective_blade, defects_config, tmp_path) -> None:
    """The cell's own runner and steps drive the bare simulator end to end; with a ground-truth detector
    and rules that reject any defect, a blade whose captures show defects goes to the reject bin."""
    from platform_control.cycle.acceptance import AcceptanceRules
    from platform_control.cycle.cell_steps import StepsContext
    from platform_control.cycle.refs import capture_ref
    from platform_control.cycle.runner import CycleRunner
    from platform_control.cycle.services import CycleJob

    optics = load_optics().with_resolution(96, 96)
    with SimCell(defective_blade, optics=optics) as cell:
        services = _GroundTruthServices(cell, tuple(defects_config.classes))
        motion = services.run.motion
        stage = StageKinematics(cell.stage_params, cell.layout, cell.camera_params)
        d = defective_blade.defects[0]
        axes = np.array([stage.viewpoint_to_axes(d.frame.center, d.frame.normal), np.zeros(5)])
        rules = AcceptanceRules(reject_area_mm2={c: 0.0 for c in defects_config.classes[1:]})
        context = StepsContext(motion.planner, cell.stage_params, motion.stage_load_axes, rules, tmp_path)
        runner = CycleRunner(services, context, lambda family: axes)
        outcome = runner.run_new(CycleJob("SIM-1", "SN-SIM", "SIM"))
        assert outcome.final_state == "DONE", runner.cycle.history
        assert runner.cycle.progress.ordered_capture_refs() == tuple(
            capture_ref("SIM", "SIM-1", i) for i in (0, 1)
        )
        assert outcome.verdict == "fail" and outcome.defect_count >= 1
        assert services.records[0].verdict == "fail" and outcome.record_id == 1
        assert d.kind in {
            r["defect_class"] for r in services.detect("SIM", None, capture_ref("SIM", "SIM-1", 0)).regions
        }
        assert cell.blade_holder == "reject_bin"


def test_restoring_a_saved_world(defective_blade) -> None:
    """A restarted driver process puts arm and stage back where they were (no motion simulated)."""
    with SimCell(defective_blade) as cell:
        q = np.array([1.2, -1.5, 1.4, -0.3, 1.5708, 0.4])
        cell.set_arm_joints(q)
        cell.set_stage_axes(np.array([0.01, -0.02, 0.1, 0.3, 1.0]))
        np.testing.assert_array_equal(cell.joint_state("arm").positions, q)
        cell.wait(0.2)  # the drives hold the restored pose
        np.testing.assert_allclose(cell.joint_state("arm").positions, q, atol=1e-6)
        with pytest.raises(LimitViolation, match="elbow_joint"):
            cell.set_arm_joints(np.array([0, 0, 3.5, 0, 0, 0]))
        with pytest.raises(LimitViolation, match="expected 5"):
            cell.set_stage_axes(np.zeros(4))
