"""What a cycle asks of the cell (`CellServices`) and the shapes that cross that boundary.

Why a protocol: the same steps run against ROS proxies (the coordinator node), the in-process
services (tests, tools) and fakes; none of them is imported here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from platform_control.hardware import ArmDriver, Gripper, StageDriver
from platform_control.imaging import MultispectralCapture

Notify = Callable[[str], None]


@dataclass(frozen=True)
class CycleJob:
    """What the technician asked for; kept in the cycle journal's metadata."""

    cycle_id: str
    blade_serial: str
    part_family: str
    operator: str = ""
    request_uuid: str | None = None
    force_redesign: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CycleJob:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class CaptureResult:
    """A capture on its way from a camera to a store and, in the simulator, its ground-truth class mask.
    Shape: label (H, W) uint8."""

    capture: MultispectralCapture
    label: np.ndarray | None = None
    label_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DetectResult:
    """The detector's answer for one capture; regions are `DefectRegion.to_dict()` records."""

    model_version: str
    regions: list[dict[str, Any]]
    mask_path: str
    mask_sha256: str
    width: int
    height: int
    inference_ms: float = 0.0


@dataclass(frozen=True)
class RecordRequest:
    """Everything the recorder needs to write one cycle."""

    job: CycleJob
    final_state: str
    verdict: str
    started_at: float
    finished_at: float
    stage_timings: dict[str, float]
    model_version: str | None
    capture_refs: tuple[str, ...]
    detections_ref: str | None


class CellServices(Protocol):
    """The devices and services a cycle uses (ROS proxies in the cell, in-process services, fakes)."""

    arm: ArmDriver
    stage: StageDriver
    gripper: Gripper

    def capture(self, job: CycleJob, viewpoint_index: int, stage_axes: np.ndarray) -> str:
        """Fire every light channel at the measured stage pose and store the capture durably; returns
        its reference (`refs.capture_ref`). The frames go from the camera to the store directly."""
        ...

    def deployed_model(self, part_family: str, notify: Notify, cancel: threading.Event) -> str | None:
        """The family's deployed model version (None: design one first). ``notify`` and ``cancel`` as for
        `record`: a lookup may wait out a short outage of the records database."""
        ...

    def export_dataset(self, part_family: str) -> str: ...

    def design(self, part_family: str, dataset_dir: str, notify: Notify, cancel: threading.Event) -> str: ...

    def detect(self, part_family: str, model_version: str | None, capture_ref: str) -> DetectResult: ...

    def record(self, request: RecordRequest, notify: Notify, cancel: threading.Event) -> int: ...

    def halt_motion(self) -> None: ...
