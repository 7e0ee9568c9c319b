"""`dataset.yaml`: what a labelled dataset folder contains (class names, image channels, bit depth).

The generic folder format is documented in FORMAT.md beside this file; this module only models and
validates the descriptor file so every later error can name the offending field.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

IGNORE_INDEX = 255
"""Mask value for pixels that are not labelled; excluded from the loss and from the metrics."""

DESCRIPTOR_NAME = "dataset.yaml"


class DatasetError(ValueError):
    """A dataset file or descriptor is missing, corrupt or inconsistent; the message names the file."""


class DatasetSpec(BaseModel):
    """Contents of `dataset.yaml`.

    `classes[i]` is the name of mask value i (index 0 is background by convention); `channels` names the
    image channels in the order the network sees them (e.g. `[grey]`, `[r, g, b]`,
    `[white, uv365, nir850]`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "dataset"
    classes: tuple[str, ...] = Field(min_length=2)
    channels: tuple[str, ...] = Field(min_length=1)
    bit_depth: int | None = None
    """8 or 16; None infers it from the first image (all images must then agree)."""
    splits: dict[str, str] = Field(default_factory=lambda: {"train": "train.txt", "val": "val.txt"})
    """Split name -> list file (relative to the dataset root), one image entry per line."""

    @field_validator("bit_depth")
    @classmethod
    def _bit_depth(cls, value: int | None) -> int | None:
        if value not in (None, 8, 16):
            raise ValueError(f"bit_depth must be 8 or 16, got {value}")
        return value

    @field_validator("classes", "channels")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"names must be unique, got {list(value)}")
        if any(not name.strip() for name in value):
            raise ValueError("names must be non-empty")
        return value

    @model_validator(mode="after")
    def _class_count(self) -> DatasetSpec:
        if len(self.classes) > IGNORE_INDEX:
            raise ValueError(f"at most {IGNORE_INDEX} classes (mask value {IGNORE_INDEX} means 'ignore')")
        return self

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return len(self.channels)

    @classmethod
    def from_yaml(cls, path: Path) -> DatasetSpec:
        try:
            raw = yaml.safe_load(Path(path).read_text())
        except FileNotFoundError as exc:
            raise DatasetError(f"{path}: dataset descriptor not found") from exc
        except yaml.YAMLError as exc:
            raise DatasetError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise DatasetError(f"{path}: expected a mapping with 'classes' and 'channels'")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise DatasetError(f"{path}: invalid dataset descriptor:\n{exc}") from exc

    def to_yaml(self, path: Path) -> None:
        data = self.model_dump(mode="json")
        Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
