"""SQLAlchemy 2.0 typed ORM models of every BladeCell record (one module per subject)."""

from .accounts import ApiKey, User
from .annotations import Annotation
from .base import (
    AnnotationSource,
    Base,
    CycleState,
    ModelStatus,
    RequestState,
    ReviewStatus,
    Role,
    Verdict,
    utcnow,
)
from .catalog import Blade, PartFamily
from .cycles import Capture, CaptureFrame, CycleRequest, InspectionCycle
from .defects import Defect
from .registry import DetectionModel
from .station import BladeModel, CycleEvent

__all__ = [
    "Annotation",
    "AnnotationSource",
    "ApiKey",
    "Base",
    "Blade",
    "BladeModel",
    "Capture",
    "CaptureFrame",
    "CycleEvent",
    "CycleRequest",
    "CycleState",
    "Defect",
    "DetectionModel",
    "InspectionCycle",
    "ModelStatus",
    "PartFamily",
    "RequestState",
    "ReviewStatus",
    "Role",
    "User",
    "Verdict",
    "utcnow",
]
