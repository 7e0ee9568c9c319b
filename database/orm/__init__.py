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

__all__ = [
    "Annotation",
    "AnnotationSource",
    "ApiKey",
    "Base",
    "Blade",
    "Capture",
    "CaptureFrame",
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
