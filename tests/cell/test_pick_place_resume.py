"""A LOAD or UNLOAD interrupted at any instant resumes to completion (issue 16).

The coordinator "dies" (`CoordinatorDied`, a BaseException like a SIGKILL) at every point of a
pick-and-place in turn: before, half-way through and after each arm motion, before and after each
gripper command and before each journal write. Everything in memory is thrown away; what survives is
what survives a real coordinator: the simulated world (blade, arm, stage) and the durable journal. The
arm's drive brakes to a stop where the motion was cut off. A fresh `CellMotion` then runs the step
again, with a gripper proxy that, like `RosGripper` in a restarted coordinator, has not heard an
answer yet. The operation must complete with the blade at its destination, the gripper must never
close on nothing, and it must never open while the blade is held anywhere but at its place.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bladecell_ros.services.local_cell import local_context
from dying_coordinator import CoordinatorDied, DyingArm, Killer, ProxyGripper, Witness

from platform_control.atomic_io import atomic_write_text
from platform_control.cycle.motion import CellMotion, PickPlaceJournal, PickPlaceResumeError
from platform_control.pick_place import Operation
from platform_control.sim.world import SimBladeSpec, SimWorld

SOURCE = {"load": "tray", "unload_to_tray": "fixture", "unload_to_reject_bin": "fixture"}
DESTINATION = {"load": "fixture", "unload_to_tray": "tray", "unload_to_reject_bin": "reject_bin"}
SCAN_AXES = np.array([0.02, -0.03, 0.3, 0.5, 0.4])  # somewhere the stage is during a scan


def file_journal(path: Path, killer: Killer) -> PickPlaceJournal:
    """A durable journal (atomic JSON file) whose writer may die before a write."""

    def read() -> Mapping[str, Any] | None:
        return json.loads(path.read_text()) if path.is_file() else None

    def write(entry: Mapping[str, Any]) -> None:
        killer.point(f"before journaling {entry['milestone']}")
        atomic_write_text(path, json.dumps(dict(entry)))

    return PickPlaceJournal(read, write)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("pick-resume")
    made = SimWorld(SimBladeSpec(defects_min=1, defects_max=1), resolution=32, state_file=home / "w.json")
    yield made
    made.close()


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory):
    return local_context(tmp_path_factory.mktemp("pick-resume-context"))


def _set_up(world: SimWorld, operation: Operation) -> None:
    """The cell as the step finds it: the blade at its source, the arm home, the stage at the load
    pose for a LOAD and at a scan pose for an UNLOAD."""
    world.arm.reset()
    world.stage.reset()
    world.gripper.open()
    world.cell.place_blade(SOURCE[operation])  # type: ignore[arg-type]
    world.cell.set_arm_joints(np.array(world.pick_place.home))
    load_axes = np.array(world.pick_place.stage_load_axes)
    world.cell.set_stage_axes(load_axes if operation == "load" else SCAN_AXES)


def _run(world: SimWorld, context, operation: Operation, journal: PickPlaceJournal, gripper, arm) -> None:
    motion = CellMotion(
        arm,
        world.stage,
        gripper,
        context.planner,
        context.stage_params,
        context.stage_load_axes,
        journal=journal,
    )
    if operation == "load":
        motion.load()
    else:
        motion.unload(reject=operation == "unload_to_reject_bin")


def _interrupted_then_resumed(
    world: SimWorld,
    context,
    operation: Operation,
    journal_path: Path,
    kill_points: Callable[[int], int | None],
) -> tuple[Witness, list[str]]:
    """Run ``operation`` until it completes; run number i dies at point ``kill_points(i)``."""
    _set_up(world, operation)
    journal_path.unlink(missing_ok=True)
    witness = Witness(world)
    deaths: list[str] = []
    for attempt in range(20):
        killer = Killer(kill_points(attempt))
        gripper = ProxyGripper(world, killer, witness, {DESTINATION[operation]})
        try:
            _run(
                world,
                context,
                operation,
                file_journal(journal_path, killer),
                gripper,
                DyingArm(world, killer, witness),
            )
            return witness, deaths
        except CoordinatorDied as died:
            deaths.append(str(died))
            world.arm.stop()  # the drive brakes where the coordinator left it, the supervisor restarts it
            world.arm.reset()
    raise AssertionError(f"{operation} did not complete after {deaths}")


def _points(world: SimWorld, context, operation: Operation, tmp_path: Path) -> int:
    _set_up(world, operation)
    killer = Killer(None)
    witness = Witness(world)
    gripper = ProxyGripper(world, killer, witness, {DESTINATION[operation]})
    _run(
        world,
        context,
        operation,
        file_journal(tmp_path / "count.json", killer),
        gripper,
        DyingArm(world, killer, witness),
    )
    assert world.blade_holder == DESTINATION[operation]
    return killer.count


@pytest.mark.parametrize("operation", ["load", "unload_to_tray", "unload_to_reject_bin"])
def test_operation_killed_at_any_point_resumes_to_the_destination(
    world, context, operation, tmp_path
) -> None:
    total = _points(world, context, operation, tmp_path)
    motions = len(context.planner.plan_rest(operation, "before_grip").motions)
    assert total == 3 * motions + 2 * 2 + 4  # around each motion, each gripper command, each milestone
    seen: set[str] = set()
    for at in range(total):
        witness, deaths = _interrupted_then_resumed(
            world,
            context,
            operation,
            tmp_path / "journal.json",
            lambda attempt, at=at: at if attempt == 0 else None,
        )
        assert len(deaths) == 1
        where = f"{operation}, killed {deaths[0]}"
        seen.add(deaths[0])
        assert world.blade_holder == DESTINATION[operation], where
        assert witness.closed_on_nothing == witness.opened_in_mid_air == witness.carried_back == [], where
        assert witness.grips == 1, where  # gripped once, never picked again after the kill
        np.testing.assert_allclose(world.arm.joint_state().positions, world.pick_place.home, atol=1e-3)
    assert {"before close", "after close", "before open", "after open"} <= seen
    assert any(s.startswith("half-way through") for s in seen)


@pytest.mark.parametrize("operation", ["load", "unload_to_tray"])
def test_operation_killed_again_in_every_resume_still_completes(world, context, operation, tmp_path) -> None:
    """The restarted coordinators die too, a few points into their runs (a resume of a resume of ...)."""
    for first in (1, 2, 4, 7):
        witness, deaths = _interrupted_then_resumed(
            world,
            context,
            operation,
            tmp_path / "journal.json",
            lambda attempt, first=first: first + 3 * attempt if attempt < 4 else None,
        )
        assert len(deaths) >= 2, deaths
        assert world.blade_holder == DESTINATION[operation], (first, deaths)
        assert witness.closed_on_nothing == witness.opened_in_mid_air == witness.carried_back == [], (
            first,
            deaths,
        )
        assert witness.grips == 1, (first, deaths)


def test_a_blade_taken_out_of_the_gripper_is_picked_again_at_its_source(world, context, tmp_path) -> None:
    """The gripper is empty although the journal says it gripped (the operator took the blade out
    and put it back in the tray, as the simulator does when it restarts): the resume picks it there."""
    journal = tmp_path / "journal.json"
    _set_up(world, "load")
    killer = Killer(None)
    witness = Witness(world)
    atomic_write_text(journal, json.dumps({"operation": "load", "milestone": "gripped"}))
    gripper = ProxyGripper(world, killer, witness, {"fixture"})
    _run(world, context, "load", file_journal(journal, killer), gripper, DyingArm(world, killer, witness))
    assert world.blade_holder == "fixture" and witness.opened_in_mid_air == []


def test_a_release_the_arm_has_moved_away_from_faults_without_opening(world, context, tmp_path) -> None:
    """The journal says the release was under way, but the arm is not at the place: the gripper may
    still hold the blade, so it is not opened, and the fault says what to check."""
    journal = tmp_path / "journal.json"
    _set_up(world, "load")
    killer = Killer(None)
    witness = Witness(world)
    gripper = ProxyGripper(world, killer, witness, {"fixture"})
    atomic_write_text(journal, json.dumps({"operation": "load", "milestone": "releasing"}))
    opened: list[str] = []
    gripper.open = lambda: opened.append("open")  # type: ignore[method-assign]
    with pytest.raises(PickPlaceResumeError, match="check whether the blade is in the gripper"):
        _run(world, context, "load", file_journal(journal, killer), gripper, DyingArm(world, killer, witness))
    assert opened == []


def test_a_milestone_of_the_other_operation_is_not_this_ones(world, context, tmp_path) -> None:
    """The LOAD's last milestone ("released") is still in the journal when the UNLOAD starts."""
    journal = tmp_path / "journal.json"
    _set_up(world, "unload_to_tray")
    atomic_write_text(journal, json.dumps({"operation": "load", "milestone": "released"}))
    killer = Killer(None)
    witness = Witness(world)
    gripper = ProxyGripper(world, killer, witness, {"tray"})
    _run(
        world,
        context,
        "unload_to_tray",
        file_journal(journal, killer),
        gripper,
        DyingArm(world, killer, witness),
    )
    assert world.blade_holder == "tray" and witness.grips == 1
    assert json.loads(journal.read_text()) == {"operation": "unload_to_tray", "milestone": "released"}
