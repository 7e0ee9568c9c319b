"""The records API's cell link over ROS: the station page's e-stop, reset and resume act through the
same path as `bladecell estop`, `bladecell reset-estop` and `bladecell inspect --resume`.

E-stop publishes `true` on the latched e-stop topic and waits until the coordinator, the arm and the
stage drivers have acknowledged it and the cell reports the e-stop active; reset publishes `false`,
then calls the coordinator's reset service; resume sends an InspectBlade goal with `resume` on a
thread of its own (the cycle then runs for minutes; its progress reaches the page as events) and
answers once the cell has taken it up or refused it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from database.api.schemas.station import CellActionOut, CellLinkState

ACTIVE = {"LOADING", "SCANNING", "DESIGNING", "DETECTING", "RECORDING", "UNLOADING"}
MOTION_LISTENERS = 3  # coordinator, arm driver, stage driver


class RosCellLink:
    def __init__(self, client: Any, *, timeout_s: float = 10.0) -> None:
        self.client = client  # bladecell_ros.transport.client.CellClient
        self.timeout_s = timeout_s
        self._lock = threading.Lock()  # one e-stop/reset/resume at a time

    def state(self) -> CellLinkState:
        status = self.client.status
        if status is None:
            return CellLinkState(linked=True, detail="linked to the cell; no status received yet")
        return CellLinkState(
            linked=True, detail=status.message, estop=status.estop_active, state=status.state
        )

    def press_estop(self) -> CellActionOut:
        with self._lock:
            before = self.client.status
            running = before is not None and before.state in ACTIVE
            try:
                self.client.press_estop(True, subscribers=MOTION_LISTENERS, timeout=self.timeout_s)
                self.client.wait_status(lambda s: s.estop_active, self.timeout_s, "the cell's e-stop state")
            except Exception as exc:
                return CellActionOut(ok=False, message=f"e-stop NOT confirmed by the cell: {exc}")
            if running:
                return CellActionOut(
                    ok=True,
                    message=f"E-STOP pressed: arm and stage halted; the cycle of {before.blade_serial} "
                    "faulted",
                )
            return CellActionOut(
                ok=True,
                message="e-stop pressed while no cycle was running: nothing moved; the cell starts no "
                "cycle until you reset the e-stop",
            )

    def reset_estop(self) -> CellActionOut:
        with self._lock:
            try:
                self.client.press_estop(False, subscribers=MOTION_LISTENERS, timeout=self.timeout_s)
                deadline = time.monotonic() + self.timeout_s
                while True:  # the coordinator may not have handled the release yet
                    response = self.client.reset_estop()
                    if response.success or "still pressed" not in response.message:
                        break
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
            except Exception as exc:
                return CellActionOut(ok=False, message=f"reset not done: {exc}")
            return CellActionOut(ok=bool(response.success), message=response.message)

    def resume(self, blade_serial: str) -> CellActionOut:
        with self._lock:
            status = self.client.status
            if status is not None and status.estop_active:
                return CellActionOut(ok=False, message="the e-stop is still active: reset it first")
            if status is not None and status.state in ACTIVE:
                return CellActionOut(
                    ok=False, message=f"the cell is busy with {status.blade_serial} ({status.state})"
                )
            answer: dict[str, Any] = {}
            finished = threading.Event()

            def run() -> None:
                try:
                    answer["result"] = self.client.inspect(blade_serial, "", resume=True)
                except Exception as exc:  # the cell went away: reported below if it happens at once
                    answer["error"] = exc
                finished.set()

            threading.Thread(target=run, name=f"resume-{blade_serial}", daemon=True).start()
            deadline = time.monotonic() + max(self.timeout_s, 30.0)
            while time.monotonic() < deadline:
                if finished.wait(0.05):
                    break
                current = self.client.status
                if current is not None and current.blade_serial == blade_serial and current.state in ACTIVE:
                    return CellActionOut(
                        ok=True, message=f"resuming the cycle of {blade_serial} ({current.state})"
                    )
            if "error" in answer:
                return CellActionOut(ok=False, message=f"resume not started: {answer['error']}")
            result = answer.get("result")
            if result is None:
                return CellActionOut(ok=False, message="the cell did not take up the resume in time")
            if result.final_state == "DONE":
                return CellActionOut(ok=True, message=f"resumed and finished: {result.message}")
            return CellActionOut(ok=False, message=f"resume refused: {result.message}")
