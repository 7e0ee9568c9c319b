"""Services over the records: the cell's Python APIs and the logic behind the HTTP API.

For the cell (each call one transaction, `DatabaseUnavailableError` = nothing written, retry):
- `CycleQueue`: submit / claim_next / mark_running / report_progress / mark_done / mark_failed.
- `CycleRecorder.record(CycleRecord)`: a whole cycle in one transaction, idempotent on `cycle_uuid`.
- `ModelRegistry`: register_candidate / deploy / retire / deployed_for / list.

They return the API's own schemas (`CycleStatusOut`, `ModelDetailOut`, ...), so the cell, the CLI
and the HTTP API see one shape of each thing.
"""

from .queue import CycleQueue
from .recording import CaptureRecord, CycleRecord, CycleRecorder, DefectRecord, FrameRecord, RecordResult
from .registry import ModelCandidate, ModelRegistry, untrained_classes

__all__ = [
    "CaptureRecord",
    "CycleQueue",
    "CycleRecord",
    "CycleRecorder",
    "DefectRecord",
    "FrameRecord",
    "ModelCandidate",
    "ModelRegistry",
    "RecordResult",
    "untrained_classes",
]
