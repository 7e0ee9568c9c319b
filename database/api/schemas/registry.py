"""Model registry views."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...orm import ModelStatus
from .common import OrmModel


class ModelOut(OrmModel):
    id: int
    version: str
    part_family: str
    status: ModelStatus
    metrics: dict[str, float]
    latency_ms: float | None
    latency_device: str
    created_at: datetime
    deployed_at: datetime | None
    retired_at: datetime | None


class ModelDetailOut(ModelOut):
    architecture: dict[str, Any]
    weights_path: str
    weights_sha256: str | None
    dataset_snapshot: str
    notes: str
