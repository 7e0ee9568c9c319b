"""The coordinator's outgoing messages, built from the cycle's state: CellStatus and the diagnostics.

Pure functions (no node), so the coordinator's callbacks stay translations.
"""

from __future__ import annotations

from collections.abc import Mapping

from bladecell_interfaces.msg import CellStatus
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from platform_control.cycle import CycleMachine, CycleState
from platform_control.cycle.services import CycleJob
from platform_control.cycle.status import cycle_fraction


def cell_status(
    cell_id: str, cycle: CycleMachine | None, job: CycleJob | None, estop: bool, message: str
) -> CellStatus:
    """CellStatus of the current (or last) cycle; the header stamp is the caller's."""
    msg = CellStatus(cell_id=cell_id, estop_active=estop, state="IDLE")
    if cycle is not None and job is not None:
        progress = cycle.progress
        msg.state, msg.cycle_id = str(progress.state), progress.cycle_id
        msg.blade_serial, msg.part_family = job.blade_serial, job.part_family
        msg.viewpoint_index, msg.viewpoint_count = len(progress.capture_refs), progress.viewpoint_count
        msg.progress = cycle_fraction(progress)
        msg.estop_active = estop or progress.estop_latched
        msg.model_version = progress.model_ref or ""
        if progress.fault is not None and progress.state == CycleState.FAULTED:
            msg.message = f"FAULTED ({progress.fault.kind}): {progress.fault.message}"
            if message and message not in msg.message:
                msg.message += f" | {message}"
    msg.message = msg.message or message
    return msg


def diagnostics(
    cell_id: str, cycle: CycleMachine | None, estop: bool, message: str, dependencies: Mapping[str, bool]
) -> DiagnosticArray:
    """One status for the cell (ERROR when FAULTED or e-stopped) and one per node it depends on."""
    state = str(cycle.state) if cycle is not None else "IDLE"
    level = DiagnosticStatus.ERROR if state == "FAULTED" or estop else DiagnosticStatus.OK
    cell = DiagnosticStatus(level=level, name="bladecell: cell", hardware_id=cell_id, message=state)
    cell.values = [
        KeyValue(key="state", value=state),
        KeyValue(key="cycle_id", value=cycle.cycle_id if cycle else ""),
        KeyValue(key="estop", value=str(estop)),
        KeyValue(key="last_message", value=message[:200]),
    ]
    array = DiagnosticArray()
    array.status.append(cell)
    for name, ready in dependencies.items():
        array.status.append(
            DiagnosticStatus(
                level=DiagnosticStatus.OK if ready else DiagnosticStatus.WARN,
                name=f"bladecell: {name}",
                hardware_id=cell_id,
                message="available" if ready else "not discovered",
            )
        )
    return array
