"""Persistence: a controller crash loses no capture, resume never re-scans, the journal is never torn."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from cycle_fakes import WAIT_S, Block, FakeCell, SimulatedCrash

from platform_control.cycle import CycleJournal, CycleMachine, CycleState, JournalError

S = CycleState
N = 6


def _crash_then_restart(tmp_path: Path, key: str, needs: bool = False) -> tuple[FakeCell, CycleMachine, dict]:
    path = tmp_path / "cycle.json"
    first = FakeCell(needs=needs, fail_once={key: SimulatedCrash()})
    cycle = CycleMachine(first.steps(), path, cycle_id="C7")
    cycle.start(N)
    with pytest.raises(SimulatedCrash):
        cycle.run()
    before = dict(cycle.progress.capture_refs)
    # a new controller process: new steps object, same durable capture store, same journal file
    second = FakeCell(needs=needs, store=first.store)
    restarted = CycleMachine(second.steps(), path, cycle_id="C7")
    return second, restarted, before


def test_crash_mid_scan_keeps_every_capture_and_resumes_at_the_first_missing(tmp_path: Path) -> None:
    cell, cycle, before = _crash_then_restart(tmp_path, "scan:3")
    assert set(before) == {0, 1, 2}
    progress = cycle.progress
    assert (
        progress.state == S.FAULTED and progress.fault.kind == "crash" and progress.fault.state == S.SCANNING
    )
    assert dict(progress.capture_refs) == before  # nothing lost
    assert progress.next_viewpoint == 3
    cycle.resume()
    final = cycle.run()
    assert final.state == S.DONE
    assert cell.scanned() == [3, 4, 5]  # never re-scans what was recorded
    refs, _ = dict(cell.calls)["detect"]
    assert refs[:3] == tuple(before[i] for i in range(3)) and len(refs) == N
    assert [cell.store[r] for r in refs] == list(range(N))
    assert "load" not in cell.names()


@pytest.mark.parametrize(
    ("key", "state"),
    [
        ("load", S.LOADING),
        ("needs_design", S.SCANNING),
        ("design", S.DESIGNING),
        ("detect", S.DETECTING),
        ("record", S.RECORDING),
        ("unload", S.UNLOADING),
    ],
)
def test_crash_in_each_state_resumes_that_state(tmp_path: Path, key: str, state: CycleState) -> None:
    cell, cycle, before = _crash_then_restart(tmp_path, key, needs=True)
    assert cycle.state == S.FAULTED and cycle.progress.resume_state == state
    cycle.resume()
    assert cycle.run().state == S.DONE
    order = ["load", "scan", "needs_design", "design", "detect", "record", "unload"]
    expected = order[order.index(key) :]
    assert [
        n for i, n in enumerate(cell.names()) if n != "scan" or i == 0 or cell.names()[i - 1] != "scan"
    ] == (expected)
    assert len(cycle.progress.capture_refs) == N and len(before) == (0 if key == "load" else N)


def test_journal_on_disk_matches_every_event(tmp_path: Path) -> None:
    cell = FakeCell()
    cycle = CycleMachine(cell.steps(), tmp_path / "j.json")
    seen: list[tuple[str, int]] = []

    def check(event) -> None:
        data = json.loads((tmp_path / "j.json").read_text())  # written before observers are told
        assert data["state"] == event.progress.state
        assert len(data["capture_refs"]) == len(event.progress.capture_refs)
        seen.append((data["state"], len(data["capture_refs"])))

    cycle.add_observer(check)
    cycle.start(N)
    cycle.run()
    assert ("SCANNING", N) in seen and seen[-1] == ("DONE", N)
    assert [p.name for p in tmp_path.iterdir()] == ["j.json"]  # no temporary files left behind


def test_estop_at_any_viewpoint_never_loses_a_stored_capture(tmp_path: Path) -> None:
    for i in range(N):
        mode = "ignore" if i % 2 else "halt"
        cell = FakeCell(block=Block("scan", i, mode=mode))
        path = tmp_path / f"c{i}.json"
        cycle = CycleMachine(cell.steps(), path)
        cycle.start(N)
        runner = threading.Thread(target=cycle.run)
        runner.start()
        assert cell.entered.wait(WAIT_S)
        cycle.estop()
        runner.join(WAIT_S)
        journaled = CycleJournal(path).load().capture_refs
        assert set(journaled.values()) == set(cell.store)  # every stored capture is journaled
        assert set(journaled) == set(range(i + 1 if mode == "ignore" else i))


def test_corrupt_or_foreign_journal_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"version": 1, "cycle_id": "X"')
    with pytest.raises(JournalError, match=r"bad\.json is corrupt"):
        CycleMachine(FakeCell().steps(), path)
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(JournalError, match="version 99"):
        CycleMachine(FakeCell().steps(), path)
    good = tmp_path / "good.json"
    CycleMachine(FakeCell().steps(), good, cycle_id="A")
    with pytest.raises(JournalError, match="is for cycle 'A', not 'B'"):
        CycleMachine(FakeCell().steps(), good, cycle_id="B")
    reopened = CycleMachine(FakeCell().steps(), good)
    assert reopened.cycle_id == "A" and reopened.state == S.IDLE


def test_journal_write_failure_halts_and_faults(tmp_path: Path) -> None:
    cell = FakeCell()
    cycle = CycleMachine(cell.steps(), tmp_path / "j.json")
    cycle.start(N)
    real_save = cycle.journal.save
    writes = {"n": 0}

    def flaky_save(record) -> None:
        writes["n"] += 1
        if writes["n"] > 3:
            raise JournalError("cannot write cycle journal j.json: disk full")
        real_save(record)

    cycle.journal.save = flaky_save  # type: ignore[method-assign]
    final = cycle.run()
    assert final.state == S.FAULTED and final.fault.kind == "journal" and "disk full" in final.fault.message
    assert cell.halt_calls == 1
    assert cell.scanned() == [0, 1, 2]  # stopped at the first capture it could not journal
    on_disk = CycleJournal(tmp_path / "j.json").load()
    assert set(on_disk.capture_refs) == {0, 1}  # what was journaled is intact


def test_detection_keeps_its_model_version_and_reads_older_journals() -> None:
    from platform_control.cycle import Detection

    d = Detection("detections/F/c.json", 3, True, "m-4")
    assert Detection.from_dict(d.to_dict()) == d
    older = {"ref": "detections/F/c.json", "defect_count": 3, "reject": True}  # before model_version
    assert Detection.from_dict(older).model_version is None


def test_a_steps_metadata_is_journaled_at_once_and_survives_a_restart(tmp_path: Path) -> None:
    """`set_metadata` (the pick-and-place milestones) writes the journal before it returns; a write
    that fails raises and leaves the old value, so the step stops rather than act unrecorded."""
    path = tmp_path / "j.json"
    cycle = CycleMachine(FakeCell().steps(), path, cycle_id="M", metadata={"job": {"serial": "S"}})
    cycle.set_metadata("pick_place", {"operation": "load", "milestone": "gripping"})
    restarted = CycleMachine(FakeCell().steps(), path, cycle_id="M")
    assert restarted.metadata == {
        "job": {"serial": "S"},
        "pick_place": {"operation": "load", "milestone": "gripping"},
    }

    def full(record) -> None:
        raise JournalError("cannot write cycle journal j.json: disk full")

    restarted.journal.save = full  # type: ignore[method-assign]
    with pytest.raises(JournalError, match="disk full"):
        restarted.set_metadata("pick_place", {"operation": "load", "milestone": "gripped"})
    assert restarted.metadata["pick_place"]["milestone"] == "gripping"
    with pytest.raises(JournalError):
        restarted.set_metadata("other", 1)
    assert "other" not in restarted.metadata
