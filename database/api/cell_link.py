"""The web server's line to the cell it sits beside: e-stop, reset, resume through the cell's own path.

The records API runs and is tested without ROS, so the link is a Protocol: `bladecell up --sim --serve`
injects the ROS implementation (`bladecell_ros.transport.web_cell_link.RosCellLink`, which publishes
on the latched e-stop topic the drivers halt on and calls the coordinator's reset service). A server
started without a cell (`bladecell db serve`) has no link, and the station page says so instead of
pretending that a database flag stopped anything.
"""

from __future__ import annotations

from typing import Protocol

from ..api.schemas.station import CellActionOut, CellLinkState

NO_LINK = (
    "this server has no link to a cell (it was started without one, e.g. `bladecell db serve`): "
    "use the cell's hardware e-stop, or `bladecell estop` at the cell; start the server with "
    "`bladecell up --sim --serve PORT` to press it from this page"
)


class CellLink(Protocol):
    """Each call acts on the cell and says what happened in one line for the technician."""

    def state(self) -> CellLinkState: ...

    def press_estop(self) -> CellActionOut: ...

    def reset_estop(self) -> CellActionOut:
        """Release the software e-stop and reset the drivers' latch (the cycle stays FAULTED)."""
        ...

    def resume(self, blade_serial: str) -> CellActionOut:
        """Resume the blade's faulted cycle where it stopped (returns once the cell accepted it)."""
        ...
