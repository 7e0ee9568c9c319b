"""What `bladecell inspect` tells the technician: the summary of a resumed cycle (given only the serial)
and the one line, with the next step, when the cell went away under the goal."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from bladecell_ros.bringup.session import cycle_family, lost_cell_line, next_step, summary_table
from rich.console import Console

from platform_control.cycle.journal import CycleJournal, JournalState
from platform_control.cycle.services import CycleJob
from platform_control.hardware import DeviceUnreachable


def _result(cycle_id: str) -> SimpleNamespace:
    return SimpleNamespace(
        cycle_id=cycle_id, final_state="DONE", verdict="pass", model_version="m1", defect_count=0,
        stage_timings_json="{}", duration_s=1.0, record_id=3, message="",
    )  # fmt: skip


def test_a_resumed_cycle_is_summarised_with_the_family_from_its_journal(home: Path) -> None:
    job = CycleJob(cycle_id="c-1", blade_serial="SN-1", part_family="HPT-X")
    CycleJournal(home / "cycles" / "c-1.json").save(JournalState("c-1", metadata={"job": job.to_dict()}))
    assert cycle_family(home, "c-1") == "HPT-X"
    assert cycle_family(home, "missing") == ""
    console = Console(record=True, width=200)
    console.print(summary_table(_result("c-1"), "", "SN-1"))  # was RefError: '' gives an empty file name
    assert "inspection of blade SN-1 (HPT-X)" in console.export_text()
    console.print(summary_table(_result("missing"), "", "SN-1"))
    assert "inspection of blade SN-1 (?)" in console.export_text()


def test_a_lost_coordinator_is_one_line_with_the_next_step() -> None:
    exc = DeviceUnreachable(
        "cell coordinator", "action inspect_blade: the server went away (process stopped?)"
    )
    line = lost_cell_line(exc, "SN-7")
    assert "\n" not in line
    assert line == (
        "the cell coordinator went away during the cycle (its process stopped). "
        "Next: run `bladecell inspect --serial SN-7 --resume` once the cell is back."
    )
    assert lost_cell_line(TimeoutError("x"), "S").startswith("no answer from the cell: x. Next:")
    assert next_step("S") in lost_cell_line(RuntimeError("boom"), "S")
