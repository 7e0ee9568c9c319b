"""Plain data of a cycle: what the detector concluded, why a cycle faulted, and a progress snapshot.

These are what observers receive (the ROS coordinator turns `CycleProgress` into action feedback) and
what the journal persists, so everything here converts to and from JSON-able dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from platform_control.cycle.states import CycleState

FaultKind = Literal["step_error", "estop", "crash", "external", "journal"]


@dataclass(frozen=True)
class Detection:
    """The detector's summary of one blade: where its results are (`detections.DetectionsFile`), how
    many defects, the verdict, and the model version that found them."""

    ref: str
    defect_count: int
    reject: bool
    model_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Detection:
        return cls(
            ref=str(data["ref"]),
            defect_count=int(data["defect_count"]),
            reject=bool(data["reject"]),
            model_version=data.get("model_version"),
        )


@dataclass(frozen=True)
class Fault:
    """Why a cycle is FAULTED. ``state``: the state it interrupted; ``viewpoint``: the scan index, if any."""

    kind: FaultKind
    state: CycleState
    message: str
    time: float
    error_type: str | None = None
    viewpoint: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": str(self.state)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        return cls(
            kind=data["kind"],
            state=CycleState(data["state"]),
            message=str(data["message"]),
            time=float(data["time"]),
            error_type=data.get("error_type"),
            viewpoint=data.get("viewpoint"),
        )


@dataclass(frozen=True)
class CycleProgress:
    """Immutable snapshot of a cycle, safe to hand to another thread.

    ``capture_refs`` maps viewpoint index → the reference `scan_viewpoint` returned for it (only
    viewpoints whose capture is stored). ``resume_state`` is where `resume` continues while FAULTED.
    """

    cycle_id: str
    state: CycleState
    viewpoint_count: int
    capture_refs: Mapping[int, str]
    force_design: bool
    needs_design: bool | None
    model_ref: str | None
    detection: Detection | None
    record_ref: str | None
    fault: Fault | None
    resume_state: CycleState | None
    estop_latched: bool
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "capture_refs", MappingProxyType(dict(self.capture_refs)))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @property
    def next_viewpoint(self) -> int | None:
        """The first viewpoint without a stored capture (None when the scan is complete)."""
        for i in range(self.viewpoint_count):
            if i not in self.capture_refs:
                return i
        return None

    @property
    def scan_fraction(self) -> float:
        return len(self.capture_refs) / self.viewpoint_count if self.viewpoint_count else 0.0

    def ordered_capture_refs(self) -> tuple[str, ...]:
        return tuple(self.capture_refs[i] for i in sorted(self.capture_refs))


@dataclass(frozen=True)
class CycleEvent:
    """What observers receive: a state change, or progress within a state (a capture stored)."""

    kind: Literal["state", "progress"]
    progress: CycleProgress
    previous_state: CycleState | None
    message: str


Observer = Callable[[CycleEvent], None]
