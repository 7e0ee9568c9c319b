"""LOAD / UNLOAD plans: limits, poses reached, straight approaches, table clearance, execution."""

from __future__ import annotations

import numpy as np
import pytest
from platform_fakes import FakeGripper, FakeMotionDriver

from platform_control.arm import UnreachablePoseError
from platform_control.hardware import HardwareFault, LimitViolation
from platform_control.params import load_arm_params, load_cell_layout, load_stage_params
from platform_control.pick_place import (
    ArmMotion,
    GripperCommand,
    PickPlaceConfig,
    PickPlacePlan,
    PickPlacePlanner,
    PlanningError,
    execute_pick_place,
    load_pick_place_config,
)
from platform_control.stage import StageKinematics
from platform_control.trajectory import find_limit_violation

ARM, STAGE, LAYOUT = load_arm_params(), load_stage_params(), load_cell_layout()


@pytest.fixture(scope="module")
def planner() -> PickPlacePlanner:
    return PickPlacePlanner.for_cell(ARM, STAGE, LAYOUT)


@pytest.fixture(scope="module")
def plans(planner: PickPlacePlanner) -> dict[str, PickPlacePlan]:
    return {
        "load": planner.plan_load(),
        "tray": planner.plan_unload(reject=False),
        "bin": planner.plan_unload(reject=True),
    }


def _blade_frame_from_tool(tool_pose: np.ndarray, grasp_height: float) -> tuple[np.ndarray, np.ndarray]:
    """Blade origin and span axis implied by a grasp: tool x runs along the span, grasp_height up."""
    span = tool_pose[:3, 0]
    return tool_pose[:3, 3] - grasp_height * span, span


def _pose_at(planner: PickPlacePlanner, plan: PickPlacePlan, t: float) -> np.ndarray:
    return planner.arm.fk(plan.trajectory.sample(t))


@pytest.mark.parametrize("name", ["load", "tray", "bin"])
def test_plans_respect_joint_velocity_and_acceleration_limits(
    planner: PickPlacePlanner, plans: dict[str, PickPlacePlan], name: str
) -> None:
    plan = plans[name]
    traj = plan.trajectory
    assert (
        find_limit_violation(
            traj,
            position_limits=ARM.joint_limits,
            max_velocity=ARM.max_velocity,
            max_acceleration=ARM.max_acceleration,
        )
        is None
    )
    t = np.arange(0.0, traj.duration, 0.002)
    _, vel, acc = traj.sample_state(t)
    assert np.all(np.abs(vel) <= np.array(ARM.max_velocity) * (1 + 1e-9))
    assert np.all(np.abs(acc) <= np.array(ARM.max_acceleration) * (1 + 1e-9))
    assert np.allclose(plan.start, planner.home) and np.allclose(plan.goal, planner.home)
    # one grip then one release, in that order, with the arm at rest
    assert [close for _, close in plan.gripper_events] == [True, False]
    for t_event, _ in plan.gripper_events:
        assert np.allclose(traj.sample_state(t_event)[1], 0.0, atol=1e-12)


def test_load_grips_in_the_tray_and_releases_on_the_stage_fixture(
    planner: PickPlacePlanner, plans: dict[str, PickPlacePlan]
) -> None:
    plan = plans["load"]
    (t_close, _), (t_open, _) = plan.gripper_events
    h = planner.config.grasp_height
    origin, span = _blade_frame_from_tool(_pose_at(planner, plan, t_close), h)
    assert np.allclose(origin, LAYOUT.tray[:3], atol=1e-9)  # blade root in the tray slot
    assert np.allclose(span, [0, 0, 1], atol=1e-9)
    fixture = StageKinematics(STAGE, LAYOUT).axes_to_blade_pose(np.zeros(5))
    origin, span = _blade_frame_from_tool(_pose_at(planner, plan, t_open), h)
    assert np.allclose(origin, fixture[:3, 3], atol=1e-9)  # root on the fixture clamp (stage at load pose)
    assert np.allclose(span, fixture[:3, 2], atol=1e-9)
    assert np.allclose(_pose_at(planner, plan, t_close), plan.pick_pose, atol=1e-9)
    assert np.allclose(_pose_at(planner, plan, t_open), plan.place_pose, atol=1e-9)


def test_unload_ends_in_the_tray_or_above_the_reject_bin(
    planner: PickPlacePlanner, plans: dict[str, PickPlacePlan]
) -> None:
    h = planner.config.grasp_height
    fixture = StageKinematics(STAGE, LAYOUT).axes_to_blade_pose(np.zeros(5))
    for name in ("tray", "bin"):
        (t_close, _), _ = plans[name].gripper_events
        origin, _ = _blade_frame_from_tool(_pose_at(planner, plans[name], t_close), h)
        assert np.allclose(origin, fixture[:3, 3], atol=1e-9)
    _, (t_open, _) = plans["tray"].gripper_events
    origin, span = _blade_frame_from_tool(_pose_at(planner, plans["tray"], t_open), h)
    assert np.allclose(origin, LAYOUT.tray[:3], atol=1e-9)
    assert np.allclose(span, [0, 0, 1], atol=1e-9)  # set down upright
    _, (t_open, _) = plans["bin"].gripper_events
    origin, _ = _blade_frame_from_tool(_pose_at(planner, plans["bin"], t_open), h)
    assert np.allclose(origin[:2], LAYOUT.reject_bin[:2], atol=1e-9)  # dropped over the bin's centre
    assert origin[2] >= LAYOUT.reject_bin[2] + planner.config.drop_clearance - 1e-9
    assert origin[2] >= LAYOUT.table_height  # released above the table plane, falls into the bin


@pytest.mark.parametrize("name", ["load", "tray", "bin"])
def test_arm_and_carried_blade_stay_above_the_table(
    planner: PickPlacePlanner, plans: dict[str, PickPlacePlan], name: str
) -> None:
    plan = plans[name]
    floor = LAYOUT.table_height + planner.config.table_clearance
    t0 = 0.0
    carrying = False
    for step in plan.steps:
        if isinstance(step, GripperCommand):
            carrying = step.close
            continue
        assert step.carrying == carrying
        traj = step.trajectory
        for q in traj.sample(np.arange(0.0, traj.duration, 0.004)):
            frames = planner.arm.link_frames(q)
            assert np.min(frames[2:, 2, 3]) >= floor - 1e-9, (step.label, frames[2:, 2, 3])
            root_z = frames[-1][2, 3] - planner.config.grasp_height
            near_tray_seat = step.label in {"lift", "lower"} and name in {"load", "tray"}
            if carrying and not near_tray_seat:
                assert root_z >= floor - 1e-9, step.label
        t0 += traj.duration


@pytest.mark.parametrize("name", ["load", "tray", "bin"])
def test_approach_and_retreat_moves_follow_a_straight_tool_line(
    planner: PickPlacePlanner, plans: dict[str, PickPlacePlan], name: str
) -> None:
    linear = [s for s in plans[name].motions if s.label in {"approach", "lift", "lower", "retreat"}]
    assert {s.label for s in linear} >= {"approach", "lift", "retreat"}
    for step in linear:
        traj = step.trajectory
        pts = np.array([planner.arm.fk(q)[:3, 3] for q in traj.sample(np.linspace(0, traj.duration, 200))])
        a, b = pts[0], pts[-1]
        u = np.clip((pts - a) @ (b - a) / ((b - a) @ (b - a)), 0, 1)
        deviation = np.linalg.norm(pts - (a + u[:, None] * (b - a)), axis=1)
        assert deviation.max() <= planner.config.linear_tolerance + 1e-6, (step.label, deviation.max())
        length = np.linalg.norm(b - a)
        expected = (
            planner.config.lift_height
            if step.label in {"lift", "lower"}
            else planner.config.approach_distance
        )
        assert length == pytest.approx(expected, abs=1e-9)
        # slowed near the part
        speed = np.linalg.norm(np.diff(pts, axis=0), axis=1).sum() / traj.duration
        assert speed < 0.25


def test_unreachable_fixture_names_the_move_and_distance() -> None:
    far = np.eye(4)
    far[:3, 3] = [1.5, 0.0, 1.0]
    planner = PickPlacePlanner(PickPlacePlanner.for_cell(ARM, STAGE, LAYOUT).arm, LAYOUT, far)
    with pytest.raises(UnreachablePoseError, match="load: ") as info:
        planner.plan_load()
    assert info.value.distance > 0.5


def test_clearance_that_cannot_be_kept_raises_a_planning_error() -> None:
    planner = PickPlacePlanner.for_cell(ARM, STAGE, LAYOUT, PickPlaceConfig(table_clearance=0.1))
    with pytest.raises(PlanningError, match="below the table clearance"):
        planner.plan_load()


def test_bad_start_and_home_are_rejected(planner: PickPlacePlanner) -> None:
    with pytest.raises(ValueError, match="outside the joint limits"):
        planner.plan_load(q_start=[0, 0, 4.0, 0, 0, 0])
    with pytest.raises(ValueError, match="home"):
        PickPlacePlanner.for_cell(ARM, STAGE, LAYOUT, PickPlaceConfig(home=(0, 0, 3.5, 0, 0, 0)))


def _arm_driver(start: np.ndarray) -> FakeMotionDriver:
    return FakeMotionDriver(
        "arm", ARM.joint_names, ARM.joint_limits, ARM.max_velocity, ARM.max_acceleration, start
    )


def test_execute_runs_motions_and_gripper_in_order(planner: PickPlacePlanner, plans) -> None:
    plan = plans["load"]
    arm, gripper = _arm_driver(planner.home), FakeGripper()
    progress: list[tuple[str, float]] = []
    execute_pick_place(plan, arm, gripper, lambda label, f: progress.append((label, f)))
    assert len(arm.followed) == len(plan.motions)
    assert gripper.log == ["close", "open"]
    assert np.allclose(arm.position, planner.home)
    fractions = [f for _, f in progress]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert [label for label, _ in progress if label in {"grip blade", "release blade"}] == [
        "grip blade",
        "release blade",
    ]


def test_execute_stops_when_the_gripper_closes_on_nothing(planner: PickPlacePlanner, plans) -> None:
    arm, gripper = _arm_driver(planner.home), FakeGripper(part_present=False)
    with pytest.raises(HardwareFault, match="closed on nothing"):
        execute_pick_place(plans["load"], arm, gripper)
    labels = [s.label for s in plans["load"].steps if isinstance(s, ArmMotion)]
    assert len(arm.followed) == labels.index("approach") + 1  # no lift after a failed grasp


def test_execute_refuses_a_plan_that_does_not_start_at_the_arm(planner: PickPlacePlanner, plans) -> None:
    arm = _arm_driver(planner.home + 0.1)
    with pytest.raises(LimitViolation, match="away from the arm's position"):
        execute_pick_place(plans["load"], arm, FakeGripper())
    assert arm.followed == []


def test_config_file_matches_the_defaults_and_bad_fields_are_named(tmp_path) -> None:
    assert load_pick_place_config() == PickPlaceConfig()
    bad = tmp_path / "pp.yaml"
    bad.write_text("approach_distance: -0.1\n")
    with pytest.raises(ValueError, match=r"(?s)pp\.yaml.*approach_distance"):
        load_pick_place_config(bad)
    bad.write_text("gripper_speed: 3\n")
    with pytest.raises(ValueError, match="gripper_speed"):
        load_pick_place_config(bad)


def test_fresh_plans_are_plan_rest_before_the_grip(planner: PickPlacePlanner, plans) -> None:
    for name, operation in (("load", "load"), ("tray", "unload_to_tray"), ("bin", "unload_to_reject_bin")):
        rest = planner.plan_rest(operation, "before_grip")
        assert [s.label for s in rest.steps] == [s.label for s in plans[name].steps]
        np.testing.assert_allclose(rest.trajectory.positions, plans[name].trajectory.positions)


@pytest.mark.parametrize(
    ("name", "operation"), [("load", "load"), ("tray", "unload_to_tray"), ("bin", "unload_to_reject_bin")]
)
def test_rest_of_an_operation_from_any_instant_of_it(
    planner: PickPlacePlanner, plans, name: str, operation
) -> None:
    """Stopped anywhere in a plan, the rest neither grips again once the blade is gripped nor
    releases it anywhere but at the place, keeps every check and ends at home."""
    plan = plans[name]
    phase = "before_grip"
    for step in plan.steps:
        if isinstance(step, GripperCommand):
            phase = "holding" if step.close else "released"
            continue
        for fraction in (0.0, 0.3, 0.7, 1.0):
            q = step.trajectory.sample(fraction * step.trajectory.duration)
            rest = planner.plan_rest(operation, phase, q)
            where = (step.label, fraction, phase)
            closes = [close for _, close in rest.gripper_events]
            assert closes == {"before_grip": [True, False], "holding": [False], "released": []}[phase], where
            labels = [s.label for s in rest.steps]
            if phase != "before_grip":
                assert "approach" not in labels and "transit to pre-grasp" not in labels, where
            if rest.motions:
                np.testing.assert_allclose(rest.start, q, atol=1e-9)
                np.testing.assert_allclose(rest.goal, planner.home, atol=1e-9)
            for t_event, close in rest.gripper_events:
                tool = planner.arm.fk(rest.trajectory.sample(t_event)) if rest.motions else planner.arm.fk(q)
                target = plan.pick_pose if close else plan.place_pose
                np.testing.assert_allclose(tool, target, atol=2e-4, err_msg=str(where))
            held = phase == "holding"  # a motion carries the blade exactly while it is gripped
            for rest_step in rest.steps:
                if isinstance(rest_step, GripperCommand):
                    held = rest_step.close
                else:
                    assert rest_step.carrying == held, (where, rest_step.label)


def test_rest_while_still_in_the_source_seat_lifts_straight_out_first(
    planner: PickPlacePlanner, plans
) -> None:
    pick = plans["tray"].pick_pose
    q_pick = planner.arm.ik(pick, q_hint=planner.home)[0]
    rest = planner.plan_rest("unload_to_tray", "holding", q_pick)
    assert [s.label for s in rest.steps][:2] == ["lift", "transit to place"]


def test_execute_journals_each_milestone_before_going_on(planner: PickPlacePlanner, plans) -> None:
    arm, gripper = _arm_driver(planner.home), FakeGripper()
    events: list[str] = []
    real_close, real_open = gripper.close, gripper.open
    gripper.close = lambda: (events.append("close"), real_close())  # type: ignore[method-assign]
    gripper.open = lambda: (events.append("open"), real_open())  # type: ignore[method-assign]
    execute_pick_place(plans["load"], arm, gripper, milestone=events.append)
    assert events == ["gripping", "close", "gripped", "releasing", "open", "released"]


def test_a_milestone_that_cannot_be_journaled_stops_before_the_gripper_acts(planner, plans) -> None:
    arm, gripper = _arm_driver(planner.home), FakeGripper()

    def journal(name: str) -> None:
        if name == "releasing":
            raise OSError("journal disk gone")

    with pytest.raises(OSError, match="journal disk gone"):
        execute_pick_place(plans["load"], arm, gripper, milestone=journal)
    assert gripper.log == ["close"]  # still holding: not opened unjournaled


def test_an_operation_already_finished_has_nothing_left(planner: PickPlacePlanner) -> None:
    rest = planner.plan_rest("load", "released", planner.home)
    assert rest.steps == ()
    execute_pick_place(rest, _arm_driver(planner.home), FakeGripper())  # does nothing, raises nothing
