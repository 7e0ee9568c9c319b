"""A cycle's detections file: one schema for the file the DETECTING step writes.

Why one schema: the step writes the file once; the recorder, the coordinator's `defects` topic, the
CLI's summary, the evaluation and the tests read it. They all go through `DetectionsFile`, which also
holds the model version that found the defects (the cycle's `Detection` record carries it too, so no
one reads the file back just for that). Its place under the data root is `refs.detections_ref`.

JSON (version 1): cycle_id, part_family, model_version, verdict, reasons, captures (viewpoint index as
a string -> mask file and size), defects (`DefectRegion.to_dict()` records with `viewpoint_index`:
kept as dicts, their fields are `platform_control.defect_regions`' own), written_at.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platform_control.atomic_io import atomic_write_text
from platform_control.cycle.refs import detections_path, detections_ref

DETECTIONS_VERSION = 1


class DetectionsError(ValueError):
    """A detections file that cannot be read or does not fit the schema (names the file)."""


@dataclass(frozen=True)
class CaptureDetections:
    """The detector's output for one capture: its predicted class mask (content store) and size."""

    capture_ref: str
    mask_path: str
    mask_sha256: str
    width: int
    height: int
    inference_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "capture_ref": self.capture_ref,
            "mask_path": self.mask_path,
            "mask_sha256": self.mask_sha256,
            "width": self.width,
            "height": self.height,
            "inference_ms": self.inference_ms,
        }


@dataclass(frozen=True)
class DetectionsFile:
    """All detections of one cycle, made with ONE model version."""

    cycle_id: str
    part_family: str
    model_version: str | None
    verdict: str
    reasons: tuple[str, ...]
    captures: Mapping[int, CaptureDetections]
    defects: Sequence[Mapping[str, Any]]
    written_at: float = field(default_factory=time.time)

    @property
    def ref(self) -> str:
        return detections_ref(self.part_family, self.cycle_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": DETECTIONS_VERSION,
            "cycle_id": self.cycle_id,
            "part_family": self.part_family,
            "model_version": self.model_version,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "captures": {str(k): c.to_dict() for k, c in sorted(self.captures.items())},
            "defects": [dict(d) for d in self.defects],
            "written_at": self.written_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = "detections") -> DetectionsFile:
        try:
            if data.get("version", DETECTIONS_VERSION) != DETECTIONS_VERSION:
                raise ValueError(f"version {data.get('version')!r} unsupported")
            return cls(
                cycle_id=str(data["cycle_id"]),
                part_family=str(data["part_family"]),
                model_version=data.get("model_version"),
                verdict=str(data["verdict"]),
                reasons=tuple(data.get("reasons", ())),
                captures={int(k): CaptureDetections(**v) for k, v in data["captures"].items()},
                defects=tuple(data["defects"]),
                written_at=float(data.get("written_at", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectionsError(f"{source}: not a detections file ({type(exc).__name__}: {exc})") from exc

    def write(self, home: Path) -> str:
        """Write atomically under the data root; returns the file's reference."""
        atomic_write_text(Path(home) / self.ref, json.dumps(self.to_json(), indent=1))
        return self.ref

    @classmethod
    def load(cls, path: Path) -> DetectionsFile:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise DetectionsError(f"detections file {path}: {exc}") from exc
        return cls.from_json(data, str(path))

    @classmethod
    def read(cls, home: Path, ref: str) -> DetectionsFile:
        return cls.load(Path(home) / ref)

    @classmethod
    def of_cycle(cls, home: Path, part_family: str, cycle_id: str) -> DetectionsFile | None:
        """The cycle's detections, or None when DETECTING has not finished (nothing half-written)."""
        path = detections_path(home, part_family, cycle_id)
        return cls.load(path) if path.is_file() else None
