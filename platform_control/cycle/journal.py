"""Crash-safe persistence of a cycle's progress: one JSON file, replaced atomically on every change.

The file is written to a temporary sibling, flushed and fsync'd, then renamed over the old one, so a
controller that dies at any instant leaves either the previous or the new complete journal — never a
torn one. Every stored capture reference is journaled before the next viewpoint starts, which is what
lets a restarted controller resume the scan without losing or repeating a capture.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platform_control.atomic_io import atomic_write_text
from platform_control.cycle.records import CycleProgress, Detection, Fault
from platform_control.cycle.states import CycleState

JOURNAL_VERSION = 1


class JournalError(RuntimeError):
    """The journal file cannot be read, parsed or written (names the file)."""


@dataclass
class JournalState:
    """The mutable, persisted state of one cycle (owned by `CycleMachine`, guarded by its lock)."""

    cycle_id: str
    state: CycleState = CycleState.IDLE
    viewpoint_count: int = 0
    capture_refs: dict[int, str] = field(default_factory=dict)
    force_design: bool = False
    needs_design: bool | None = None
    model_ref: str | None = None
    detection: Detection | None = None
    record_ref: str | None = None
    fault: Fault | None = None
    resume_state: CycleState | None = None
    estop_latched: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)

    def snapshot(self) -> CycleProgress:
        return CycleProgress(
            cycle_id=self.cycle_id,
            state=self.state,
            viewpoint_count=self.viewpoint_count,
            capture_refs=self.capture_refs,
            force_design=self.force_design,
            needs_design=self.needs_design,
            model_ref=self.model_ref,
            detection=self.detection,
            record_ref=self.record_ref,
            fault=self.fault,
            resume_state=self.resume_state,
            estop_latched=self.estop_latched,
            metadata=self.metadata,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": JOURNAL_VERSION,
            "cycle_id": self.cycle_id,
            "state": str(self.state),
            "viewpoint_count": self.viewpoint_count,
            "capture_refs": {str(k): v for k, v in sorted(self.capture_refs.items())},
            "force_design": self.force_design,
            "needs_design": self.needs_design,
            "model_ref": self.model_ref,
            "detection": self.detection.to_dict() if self.detection else None,
            "record_ref": self.record_ref,
            "fault": self.fault.to_dict() if self.fault else None,
            "resume_state": str(self.resume_state) if self.resume_state else None,
            "estop_latched": self.estop_latched,
            "metadata": self.metadata,
            "history": self.history,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JournalState:
        if data.get("version") != JOURNAL_VERSION:
            raise ValueError(f"journal version {data.get('version')!r}, expected {JOURNAL_VERSION}")
        return cls(
            cycle_id=str(data["cycle_id"]),
            state=CycleState(data["state"]),
            viewpoint_count=int(data["viewpoint_count"]),
            capture_refs={int(k): str(v) for k, v in data["capture_refs"].items()},
            force_design=bool(data["force_design"]),
            needs_design=data["needs_design"],
            model_ref=data["model_ref"],
            detection=Detection.from_dict(data["detection"]) if data["detection"] else None,
            record_ref=data["record_ref"],
            fault=Fault.from_dict(data["fault"]) if data["fault"] else None,
            resume_state=CycleState(data["resume_state"]) if data["resume_state"] else None,
            estop_latched=bool(data["estop_latched"]),
            metadata=dict(data["metadata"]),
            history=list(data["history"]),
            created=float(data["created"]),
        )


class CycleJournal:
    """One cycle's journal file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"CycleJournal({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> JournalState:
        try:
            data = json.loads(self.path.read_text())
            return JournalState.from_json(data)
        except OSError as exc:
            raise JournalError(f"cannot read cycle journal {self.path}: {exc}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise JournalError(f"cycle journal {self.path} is corrupt: {type(exc).__name__}: {exc}") from exc

    def save(self, record: JournalState) -> None:
        try:
            atomic_write_text(self.path, json.dumps(record.to_json(), indent=1))
        except OSError as exc:
            raise JournalError(f"cannot write cycle journal {self.path}: {exc}") from exc
