"""A scripted fake cell driving `CycleMachine` in tests: records calls, fails or blocks on demand."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from platform_control.cycle import CycleProgress, CycleSteps, Detection
from platform_control.hardware import EStopActive

STEP_NAMES = ("load", "scan", "needs_design", "design", "detect", "record", "unload")
WAIT_S = 10.0  # upper bound for any wait-for-condition in these tests


class SimulatedCrash(BaseException):
    """Escapes `run()` like a controller process dying (not an `Exception`, so not a step fault)."""


@dataclass
class Block:
    """Make a step block until halted (``mode='halt'``: then raise like a stopped motion; ``'ignore'``:
    then return normally; ``'poll'``: wait on the cycle's ``stop_requested`` and give up)."""

    step: str
    viewpoint: int | None = None
    mode: str = "halt"


@dataclass
class FakeCell:
    needs: bool = False
    reject: bool = False
    fail_once: dict[str, BaseException] = field(default_factory=dict)  # "scan:2", "load", ...
    block: Block | None = None
    calls: list[tuple[str, object]] = field(default_factory=list)
    store: dict[str, int] = field(default_factory=dict)  # the durable capture store: ref -> viewpoint
    halt_calls: int = 0
    cycle: object = None  # set by the test when steps poll stop_requested

    def __post_init__(self) -> None:
        self.entered = threading.Event()
        self.halted = threading.Event()
        self.halt_threads: list[str] = []

    def steps(self) -> CycleSteps:
        return CycleSteps(
            load=self.load,
            scan_viewpoint=self.scan_viewpoint,
            detect=self.detect,
            record=self.record,
            unload=self.unload,
            halt_motion=self.halt_motion,
            needs_design=self.needs_design,
            design=self.design,
        )

    def _step(self, name: str, arg: object = None) -> bool:
        """Common behaviour; returns True if the step should return normally after a halt."""
        self.calls.append((name, arg))
        key = f"{name}:{arg}" if arg is not None else name
        for k in (key, name):
            if k in self.fail_once:
                raise self.fail_once.pop(k)
        b = self.block
        if b and b.step == name and (b.viewpoint is None or b.viewpoint == arg):
            self.block = None
            self.entered.set()
            if b.mode == "poll":
                assert self.cycle.stop_requested.wait(WAIT_S)  # type: ignore[attr-defined]
                raise RuntimeError(f"{name} gave up: stop requested")
            assert self.halted.wait(WAIT_S), "halt_motion never came"
            if b.mode == "halt":
                raise EStopActive("fake", f"{name} stopped")
            return True
        return False

    def load(self) -> None:
        self._step("load")

    def scan_viewpoint(self, index: int) -> str:
        self._step("scan", index)
        ref = f"capture-{index}-{len(self.store)}"
        self.store[ref] = index
        return ref

    def needs_design(self) -> bool:
        self._step("needs_design")
        return self.needs

    def design(self) -> str:
        self._step("design")
        return "model-v1"

    def detect(self, refs: Sequence[str], model_ref: str | None) -> Detection:
        self._step("detect", (tuple(refs), model_ref))
        return Detection(ref="det-1", defect_count=3 if self.reject else 0, reject=self.reject)

    def record(self, progress: CycleProgress) -> str:
        self._step("record", progress)
        return f"record-{progress.cycle_id}"

    def unload(self, reject: bool) -> None:
        self._step("unload", reject)

    def halt_motion(self) -> None:
        self.halt_calls += 1
        self.halt_threads.append(threading.current_thread().name)
        self.halted.set()

    def names(self) -> list[str]:
        return [n for n, _ in self.calls]

    def scanned(self) -> list[int]:
        return [int(a) for n, a in self.calls if n == "scan"]  # type: ignore[arg-type]
