"""Typed parameters of the cell's hardware, loaded from the YAML files in `platform_control/config/`.

These files are the single source of truth: kinematics, the coverage planner, the simulator and the
URDF/SDF descriptions all read them, so the models never drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

CONFIG_DIR = Path(__file__).resolve().parent / "config"

Pose6 = tuple[float, float, float, float, float, float]
M = TypeVar("M", bound=BaseModel)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ArmParams(_Frozen):
    """6-DOF serial arm in standard Denavit-Hartenberg form."""

    name: str
    joint_names: tuple[str, str, str, str, str, str]
    dh: tuple[tuple[float, float, float], ...] = Field(description="[d, a, alpha] per joint")
    joint_limits: tuple[tuple[float, float], ...]
    max_velocity: tuple[float, ...]
    max_acceleration: tuple[float, ...]
    payload_kg: float
    tool: dict[str, float]

    @model_validator(mode="after")
    def _six_of_each(self) -> ArmParams:
        for field in ("dh", "joint_limits", "max_velocity", "max_acceleration"):
            count = len(getattr(self, field))
            if count != 6:
                raise ValueError(f"arm '{self.name}': {field} needs 6 entries, got {count}")
        for i, (lo, hi) in enumerate(self.joint_limits):
            if not lo < hi:
                raise ValueError(f"arm '{self.name}': joint {i} limits [{lo}, {hi}] are empty")
        if min(self.max_velocity) <= 0 or min(self.max_acceleration) <= 0:
            raise ValueError(f"arm '{self.name}': velocity and acceleration limits must be positive")
        return self


class StageParams(_Frozen):
    """5-DOF stage: X, Y, Z linear, A tilt (about x), C rotation (about the table normal)."""

    name: str
    axis_names: tuple[str, str, str, str, str]
    axis_types: tuple[Literal["prismatic", "revolute"], ...]
    limits: tuple[tuple[float, float], ...]
    max_velocity: tuple[float, ...]
    max_acceleration: tuple[float, ...]
    settle_time: float
    a_axis_height: float
    c_table_offset: float
    fixture_height: float

    @model_validator(mode="after")
    def _five_of_each(self) -> StageParams:
        for field in ("axis_types", "limits", "max_velocity", "max_acceleration"):
            if len(getattr(self, field)) != 5:
                raise ValueError(f"stage '{self.name}': {field} needs 5 entries")
        for name, (lo, hi) in zip(self.axis_names, self.limits, strict=True):
            if not lo < hi:
                raise ValueError(f"stage '{self.name}': axis {name} limits [{lo}, {hi}] are empty")
        return self


class CameraParams(_Frozen):
    """Fixed inspection camera (pinhole model) with its optical working envelope."""

    name: str
    width_px: int = Field(gt=0)
    height_px: int = Field(gt=0)
    pixel_size_um: float = Field(gt=0)
    focal_length_mm: float = Field(gt=0)
    working_distance: float = Field(gt=0)
    depth_of_field: float = Field(gt=0)
    max_incidence_deg: float = Field(gt=0, lt=90)
    overlap: float = Field(ge=0, lt=1)
    # Collision envelope of camera + light ring, for the coverage planner (defaults keep old files valid).
    housing_radius: float = Field(default=0.08, gt=0, description="m, envelope radius about the optical axis")
    min_clearance: float = Field(default=0.03, ge=0, description="m, closest approach in front of the lens")

    @property
    def focal_length_px(self) -> float:
        return self.focal_length_mm * 1000.0 / self.pixel_size_um

    @property
    def field_of_view_m(self) -> tuple[float, float]:
        """Width and height of the imaged area on the focus plane, metres."""
        scale = self.working_distance / self.focal_length_px
        return self.width_px * scale, self.height_px * scale


class CellLayout(_Frozen):
    """Poses of the cell's fixed equipment in the world frame ([x, y, z, roll, pitch, yaw])."""

    table_height: float
    stage_base: Pose6
    camera: Pose6
    arm_base: Pose6
    tray: Pose6
    reject_bin: Pose6


def load_yaml_model(model: type[M], path: Path, what: str = "parameter file") -> M:
    """Read a YAML file into a pydantic model; every error names ``what``, the file and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise FileNotFoundError(f"cannot read {what} {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{what} {path} is not valid YAML: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValueError as exc:
        raise ValueError(f"{what} {path}: {exc}") from exc


def load_arm_params(path: Path | None = None) -> ArmParams:
    return load_yaml_model(ArmParams, path or CONFIG_DIR / "arm_ur10e.yaml")


def load_stage_params(path: Path | None = None) -> StageParams:
    return load_yaml_model(StageParams, path or CONFIG_DIR / "stage_5axis.yaml")


def load_camera_params(path: Path | None = None) -> CameraParams:
    return load_yaml_model(CameraParams, path or CONFIG_DIR / "camera.yaml")


def load_cell_layout(path: Path | None = None) -> CellLayout:
    return load_yaml_model(CellLayout, path or CONFIG_DIR / "cell_layout.yaml")
