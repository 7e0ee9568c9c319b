"""Model registry views."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from ...orm import ModelAction, ModelOrigin, ModelStatus
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
    origin: ModelOrigin | None = None  # None: registered before revision 0005
    parent_version: str | None = None
    architecture_from: str | None = None
    """For a `like_family` model: the family whose architecture it reuses."""
    snapshot_id: int | None = None
    snapshot_sha256: str | None = None
    class_names: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    input_stats: dict[str, dict[str, float]] = Field(default_factory=dict)

    def source(self) -> str:
        """Where the model came from, for a table cell: the parent it was retrained from, prefixed by
        the family whose architecture it reuses (`HPT-A: HPT-A-2026...`); empty for a searched one."""
        parent = self.parent_version or ""
        return f"{self.architecture_from}: {parent}" if self.architecture_from else parent


class ModelEventOut(OrmModel):
    id: int
    model_version: str
    action: ModelAction
    previous_version: str | None
    actor: str
    reason: str
    figures: dict[str, Any]
    created_at: datetime
