"""SQLAlchemy 2.0 typed ORM models of every BladeCell record (one module per subject)."""

from .accounts import ApiKey, User
from .annotations import Annotation
from .base import (
    AnnotationSource,
    Base,
    CorrectionKind,
    CycleState,
    HealthLevel,
    ModelAction,
    ModelOrigin,
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
from .labels import DatasetSnapshot, LabelCorrection
from .registry import DetectionModel, ModelEvent, ModelHealthCheck, ModelLineage, ModelPolicy
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
    "CorrectionKind",
    "CycleEvent",
    "CycleRequest",
    "CycleState",
    "DatasetSnapshot",
    "Defect",
    "DetectionModel",
    "HealthLevel",
    "InspectionCycle",
    "LabelCorrection",
    "ModelAction",
    "ModelEvent",
    "ModelHealthCheck",
    "ModelLineage",
    "ModelOrigin",
    "ModelPolicy",
    "ModelStatus",
    "PartFamily",
    "RequestState",
    "ReviewStatus",
    "Role",
    "User",
    "Verdict",
    "utcnow",
]
