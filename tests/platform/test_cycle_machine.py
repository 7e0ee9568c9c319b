"""CycleMachine: normal flow, a fault in every state, e-stop in every motion state, abort everywhere."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from cycle_fakes import WAIT_S, Block, FakeCell

from platform_control.cycle import (
    CycleEvent,
    CycleMachine,
    CycleState,
    CycleSteps,
    EStopLatchedError,
    InvalidTransitionError,
)

S = CycleState
N = 5


def make(tmp_path: Path, cell: FakeCell | None = None) -> tuple[CycleMachine, FakeCell]:
    cell = cell or FakeCell()
    cycle = CycleMachine(cell.steps(), tmp_path / "cycle.json", cycle_id="C1")
    cell.cycle = cycle
    return cycle, cell


def run_in_thread(cycle: CycleMachine) -> tuple[threading.Thread, list]:
    out: list = []

    def target() -> None:
        try:
            out.append(cycle.run())
        except BaseException as exc:  # pragma: no cover - surfaced by the assertion on `out`
            out.append(exc)

    thread = threading.Thread(target=target, name="cycle-runner")
    thread.start()
    return thread, out


def states_of(cycle: CycleMachine) -> list[CycleState]:
    return [CycleState(h["to"]) for h in cycle.history if "to" in h]


# ------------------------------------------------------------------------------------ normal flow
def test_cycle_without_design_runs_every_step_in_order(tmp_path: Path) -> None:
    cycle, cell = make(tmp_path)
    events: list[CycleEvent] = []
    cycle.add_observer(events.append)
    cycle.start(N)
    final = cycle.run()
    assert final.state == S.DONE
    assert states_of(cycle) == [S.LOADING, S.SCANNING, S.DETECTING, S.RECORDING, S.UNLOADING, S.DONE]
    assert cell.names() == ["load", *["scan"] * N, "needs_design", "detect", "record", "unload"]
    assert cell.scanned() == list(range(N))
    refs, model = dict(cell.calls)["detect"]
    assert refs == final.ordered_capture_refs() and len(refs) == N and model is None
    assert all(cell.store[r] == i for i, r in enumerate(refs))
    recorded = dict(cell.calls)["record"]
    assert recorded.detection.ref == "det-1" and len(recorded.capture_refs) == N
    assert dict(cell.calls)["unload"] is False
    assert final.record_ref == "record-C1" and final.needs_design is False
    progress = [e for e in events if e.kind == "progress"]
    assert [e.progress.scan_fraction for e in progress] == [(i + 1) / N for i in range(N)]
    assert [e.progress.state for e in events if e.kind == "state"] == states_of(cycle)


def test_cycle_with_design_and_a_rejected_blade(tmp_path: Path) -> None:
    cycle, cell = make(tmp_path, FakeCell(needs=True, reject=True))
    cycle.start(N)
    final = cycle.run()
    assert states_of(cycle) == [
        S.LOADING,
        S.SCANNING,
        S.DESIGNING,
        S.DETECTING,
        S.RECORDING,
        S.UNLOADING,
        S.DONE,
    ]
    assert dict(cell.calls)["detect"][1] == "model-v1"
    assert dict(cell.calls)["unload"] is True  # to the reject bin
    assert final.model_ref == "model-v1" and final.detection.reject and final.detection.defect_count == 3


def test_force_design_does_not_ask_whether_design_is_needed(tmp_path: Path) -> None:
    cycle, cell = make(tmp_path)
    cycle.start(2, force_design=True)
    assert cycle.run().state == S.DONE
    assert "needs_design" not in cell.names() and "design" in cell.names()


def test_design_needed_without_a_design_step_faults_clearly(tmp_path: Path) -> None:
    cell = FakeCell(needs=True)
    steps = cell.steps()
    steps = CycleSteps(**{**steps.__dict__, "design": None})
    cycle = CycleMachine(steps, tmp_path / "c.json")
    cycle.start(1)
    final = cycle.run()
    assert final.state == S.FAULTED and final.fault.state == S.DESIGNING
    assert "CycleSteps.design is not provided" in final.fault.message


def test_commands_in_the_wrong_state_are_refused(tmp_path: Path) -> None:
    cycle, _ = make(tmp_path)
    with pytest.raises(InvalidTransitionError, match="needs start"):
        cycle.run()
    with pytest.raises(ValueError, match="viewpoint_count must be >= 1"):
        cycle.start(0)
    with pytest.raises(InvalidTransitionError, match="only FAULTED can resume"):
        cycle.resume()
    cycle.start(1)
    with pytest.raises(InvalidTransitionError, match="from LOADING to LOADING"):
        cycle.start(1)


# ----------------------------------------------------------------------------- faults, each state
FAULTS = [
    ("load", S.LOADING),
    ("scan:2", S.SCANNING),
    ("needs_design", S.SCANNING),
    ("design", S.DESIGNING),
    ("detect", S.DETECTING),
    ("record", S.RECORDING),
    ("unload", S.UNLOADING),
]


@pytest.mark.parametrize(("key", "state"), FAULTS)
def test_fault_in_each_state_then_resume_finishes_without_repeating_work(
    tmp_path: Path, key: str, state: CycleState
) -> None:
    cycle, cell = make(tmp_path, FakeCell(needs=True, fail_once={key: RuntimeError("boom")}))
    cycle.start(N)
    faulted = cycle.run()
    assert faulted.state == S.FAULTED
    assert faulted.fault.state == state and faulted.fault.kind == "step_error"
    assert faulted.fault.error_type == "RuntimeError" and "boom" in faulted.fault.message
    assert key.split(":")[0].replace("scan", "scan_viewpoint") in faulted.fault.message
    assert faulted.resume_state == state and cell.halt_calls >= 1
    if key == "scan:2":
        assert faulted.fault.viewpoint == 2 and set(faulted.capture_refs) == {0, 1}
    failed_step = key.split(":")[0]
    cycle.resume()
    final = cycle.run()
    assert final.state == S.DONE and final.fault is None
    for step in ("load", "needs_design", "design", "detect", "record", "unload"):
        expected = 2 if step == failed_step else 1
        assert cell.names().count(step) == expected, step
    # the scan resumes at the first viewpoint without a capture: 0 and 1 are never scanned again
    assert cell.scanned() == ([0, 1, 2, 2, 3, 4] if key == "scan:2" else list(range(N)))
    assert len(final.capture_refs) == N


def test_invalid_step_results_fault_the_cycle(tmp_path: Path) -> None:
    cell = FakeCell()
    steps = CycleSteps(**{**cell.steps().__dict__, "scan_viewpoint": lambda i: ""})
    cycle = CycleMachine(steps, tmp_path / "a.json")
    cycle.start(2)
    final = cycle.run()
    assert final.state == S.FAULTED and "non-empty capture reference" in final.fault.message
    steps = CycleSteps(**{**cell.steps().__dict__, "detect": lambda refs, model: {"defects": 2}})
    cycle = CycleMachine(steps, tmp_path / "b.json")
    cycle.start(1)
    final = cycle.run()
    assert (
        final.state == S.FAULTED
        and final.fault.state == S.DETECTING
        and "must return a Detection" in (final.fault.message)
    )


def test_external_fault_in_idle_and_resume_back_to_idle(tmp_path: Path) -> None:
    cycle, cell = make(tmp_path)
    cycle.report_fault("stage driver node lost")
    assert cycle.state == S.FAULTED and cycle.progress.fault.kind == "external"
    assert cycle.progress.fault.state == S.IDLE and cell.halt_calls == 1
    with pytest.raises(InvalidTransitionError, match="cannot fault it"):
        cycle.report_fault("again")
    cycle.resume()
    assert cycle.state == S.IDLE
    cycle.start(1)
    assert cycle.run().state == S.DONE


def test_external_fault_while_a_step_runs(tmp_path: Path) -> None:
    cycle, cell = make(tmp_path, FakeCell(block=Block("scan", 1)))
    cycle.start(N)
    thread, out = run_in_thread(cycle)
    assert cell.entered.wait(WAIT_S)
    cycle.report_fault("imaging node died")
    thread.join(WAIT_S)
    assert out[0].state == S.FAULTED and out[0].fault.kind == "external" and out[0].fault.viewpoint == 1
    cycle.resume()
    assert cycle.run().state == S.DONE
    assert cell.scanned() == [0, 1, 1, 2, 3, 4]


# ---------------------------------------------------------------------------------------- e-stop
MOTION = [("load", None, S.LOADING), ("scan", 3, S.SCANNING), ("unload", None, S.UNLOADING)]


@pytest.mark.parametrize(("step", "viewpoint", "state"), MOTION)
def test_estop_in_each_motion_state_halts_at_once_and_latches(
    tmp_path: Path, step: str, viewpoint: int | None, state: CycleState
) -> None:
    cycle, cell = make(tmp_path, FakeCell(block=Block(step, viewpoint)))
    cycle.start(N)
    thread, out = run_in_thread(cycle)
    assert cell.entered.wait(WAIT_S)
    cycle.estop("operator pressed e-stop")
    assert cell.halt_threads[0] == threading.current_thread().name  # halted on the caller's thread
    thread.join(WAIT_S)
    assert not thread.is_alive()
    final = out[0]
    assert final.state == S.FAULTED and final.fault.kind == "estop" and final.fault.state == state
    assert final.estop_latched and "operator pressed e-stop" in final.fault.message
    calls_at_stop = len(cell.calls)
    with pytest.raises(EStopLatchedError, match="reset it first"):
        cycle.resume()
    with pytest.raises(InvalidTransitionError):
        cycle.run()
    assert len(cell.calls) == calls_at_stop  # no motion while latched
    cycle.reset_estop()
    cycle.resume()
    assert cycle.run().state == S.DONE
    # the interrupted step is done again, nothing else is
    for name in ("load", "unload", "detect", "record"):
        assert cell.names().count(name) == (2 if name == step else 1)
    assert cell.scanned() == ([0, 1, 2, 3, 3, 4] if step == "scan" else list(range(N)))


@pytest.mark.parametrize(
    ("step", "state"), [("design", S.DESIGNING), ("detect", S.DETECTING), ("record", S.RECORDING)]
)
def test_estop_in_non_motion_states_faults_and_the_step_can_give_up(
    tmp_path: Path, step: str, state: CycleState
) -> None:
    cycle, cell = make(tmp_path, FakeCell(needs=True, block=Block(step, mode="poll")))
    cycle.start(2)
    thread, out = run_in_thread(cycle)
    assert cell.entered.wait(WAIT_S)
    cycle.estop()
    thread.join(WAIT_S)
    assert out[0].state == S.FAULTED and out[0].fault.kind == "estop" and out[0].fault.state == state
    cycle.reset_estop()
    cycle.resume()
    assert cycle.run().state == S.DONE and cell.names().count(step) == 2


def test_estop_when_idle_blocks_start_until_reset(tmp_path: Path) -> None:
    cycle, cell = make(tmp_path)
    cycle.estop()
    assert cycle.state == S.FAULTED and cycle.progress.estop_latched and cell.halt_calls == 1
    with pytest.raises(EStopLatchedError):
        cycle.start(1)
    cycle.reset_estop()
    cycle.resume()
    cycle.start(1)
    assert cycle.run().state == S.DONE


def test_estop_after_the_cycle_is_done_latches_but_keeps_the_result(tmp_path: Path) -> None:
    cycle, cell = make(tmp_path)
    cycle.start(1)
    cycle.run()
    cycle.estop()
    assert cycle.state == S.DONE and cycle.progress.estop_latched and cell.halt_calls == 1


def test_a_step_that_finishes_despite_the_stop_keeps_its_result(tmp_path: Path) -> None:
    cycle, cell = make(tmp_path, FakeCell(block=Block("scan", 2, mode="ignore")))
    cycle.start(N)
    thread, out = run_in_thread(cycle)
    assert cell.entered.wait(WAIT_S)
    cycle.estop()
    thread.join(WAIT_S)
    assert out[0].state == S.FAULTED and set(out[0].capture_refs) == {0, 1, 2}  # capture 2 was stored
    cycle.reset_estop()
    cycle.resume()
    assert cycle.run().state == S.DONE
    assert cell.scanned() == [0, 1, 2, 3, 4]  # 2 is not scanned twice

    cycle, cell = make(tmp_path / "load", FakeCell(block=Block("load", mode="ignore")))
    cycle.start(2)
    thread, out = run_in_thread(cycle)
    assert cell.entered.wait(WAIT_S)
    cycle.estop()
    thread.join(WAIT_S)
    assert out[0].resume_state == S.SCANNING  # the blade is on the stage: resume scans, never reloads
    cycle.reset_estop()
    cycle.resume()
    assert cycle.run().state == S.DONE and cell.names().count("load") == 1


# ----------------------------------------------------------------------------------------- abort
BLOCKING = [
    (S.LOADING, Block("load")),
    (S.SCANNING, Block("scan", 1)),
    (S.DESIGNING, Block("design", mode="poll")),
    (S.DETECTING, Block("detect", mode="poll")),
    (S.RECORDING, Block("record", mode="poll")),
    (S.UNLOADING, Block("unload")),
]


@pytest.mark.parametrize(("state", "block"), BLOCKING, ids=[s for s, _ in BLOCKING])
def test_abort_in_each_active_state(tmp_path: Path, state: CycleState, block: Block) -> None:
    cycle, cell = make(tmp_path, FakeCell(needs=True, block=block))
    cycle.start(3)
    thread, out = run_in_thread(cycle)
    assert cell.entered.wait(WAIT_S)
    assert cycle.state == state
    cycle.abort("operator cancelled")
    thread.join(WAIT_S)
    assert out[0].state == S.ABORTED and cell.halt_calls >= 1
    calls = len(cell.calls)
    for command in (cycle.resume, lambda: cycle.start(1), cycle.abort):
        with pytest.raises(InvalidTransitionError):
            command()
    assert len(cell.calls) == calls
    aborted = [h for h in cycle.history if h.get("to") == "ABORTED"]
    assert len(aborted) == 1 and aborted[0]["from"] == state and aborted[0]["reason"] == "operator cancelled"


def test_abort_when_idle_and_when_faulted(tmp_path: Path) -> None:
    cycle, cell = make(tmp_path)
    cycle.abort()
    assert cycle.state == S.ABORTED and cell.calls == []
    cycle, cell = make(tmp_path / "f", FakeCell(fail_once={"detect": RuntimeError("model missing")}))
    cycle.start(1)
    assert cycle.run().state == S.FAULTED
    cycle.abort()
    assert cycle.state == S.ABORTED and "model missing" in cycle.progress.fault.message


def test_abort_of_a_finished_cycle_is_refused(tmp_path: Path) -> None:
    cycle, cell = make(tmp_path)
    cycle.start(1)
    cycle.run()
    with pytest.raises(InvalidTransitionError, match="from DONE to ABORTED"):
        cycle.abort()
    assert cell.halt_calls == 0


# ------------------------------------------------------------------------------------- observers
def test_a_failing_observer_does_not_break_the_cycle_and_can_unsubscribe(tmp_path: Path) -> None:
    cycle, _ = make(tmp_path)
    seen: list[CycleEvent] = []

    def broken(event: CycleEvent) -> None:
        raise RuntimeError("publisher gone")

    cycle.add_observer(broken)
    remove = cycle.add_observer(seen.append)
    cycle.start(2)
    remove()
    assert cycle.run().state == S.DONE
    assert [e.progress.state for e in seen] == [S.LOADING]
    assert seen[0].previous_state == S.IDLE and seen[0].message.startswith("start")


def test_wait_for_reports_states_reached_from_another_thread(tmp_path: Path) -> None:
    cycle, cell = make(tmp_path, FakeCell(block=Block("unload")))
    cycle.start(2)
    thread, _ = run_in_thread(cycle)
    assert cycle.wait_for(S.UNLOADING, timeout=WAIT_S)
    assert not cycle.wait_for(S.DONE, timeout=0.01)
    cell.halted.set()  # let the blocked unload give up
    thread.join(WAIT_S)
    assert cycle.wait_for({S.FAULTED}, timeout=WAIT_S)
