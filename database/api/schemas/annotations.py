"""Imported training annotations."""

from __future__ import annotations

from datetime import datetime

from ...orm import AnnotationSource
from .common import OrmModel


class AnnotationOut(OrmModel):
    id: int
    part_family: str
    blade_id: int | None
    capture_id: int | None
    image_path: str
    image_sha256: str
    mask_path: str
    mask_sha256: str
    width: int
    height: int
    class_names: list[str]
    classes_present: list[str]
    source: AnnotationSource
    note: str
    created_at: datetime
