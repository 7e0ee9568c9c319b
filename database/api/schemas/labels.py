"""Corrections of detections (labels from review) and frozen dataset snapshots."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...orm import CorrectionKind
from .common import NO_NUL, OrmModel

# A 4096 x 4096 class-index PNG is well under this; the body limit caps it anyway.
MASK_B64_MAX = 40_000_000


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: CorrectionKind
    to_class: str | None = Field(default=None, max_length=40, pattern=r"^[a-z][a-z0-9_]{0,39}$")
    """The new class (class_change only)."""
    mask_png: str | None = Field(default=None, max_length=MASK_B64_MAX, pattern=r"^[A-Za-z0-9+/=]*$")
    """mask_edit only: base64 of an 8-bit single-channel PNG of the capture's size, value = class index."""
    note: str = Field(default="", max_length=2000, pattern=NO_NUL)


class CaptureCorrectionIn(BaseModel):
    """A painted mask for a whole capture (e.g. where the model found nothing): a mask edit."""

    model_config = ConfigDict(extra="forbid")

    mask_png: str = Field(min_length=1, max_length=MASK_B64_MAX, pattern=r"^[A-Za-z0-9+/=]*$")
    note: str = Field(default="", max_length=2000, pattern=NO_NUL)


class CorrectionOut(OrmModel):
    id: int
    capture_id: int | None
    defect_id: int | None
    model_version: str | None
    annotation_id: int
    mask_sha256: str
    kind: CorrectionKind
    from_class: str | None
    to_class: str | None
    changed_pixels: int
    added_pixels: int
    removed_pixels: int
    note: str
    created_by: str | None
    created_at: datetime


class SnapshotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part_family: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    note: str = Field(default="", max_length=2000, pattern=NO_NUL)


class SnapshotOut(OrmModel):
    id: int
    part_family: str
    content_sha256: str
    class_names: list[str]
    channels: list[str]
    sample_count: int
    note: str
    created_at: datetime
    items: list[dict[str, Any]] | None = None
