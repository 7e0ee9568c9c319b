"""Typed optics configuration of the simulated camera (sensor, light rings, channels, materials).

Loaded from `sim/config/optics.yaml`; every error names the file and field. Channel names must be the
cell's light channels (`platform_control.imaging.LIGHT_CHANNELS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from platform_control.imaging import LIGHT_CHANNELS
from platform_control.params import CameraParams, load_yaml_model

OPTICS_PATH = Path(__file__).resolve().parent / "config" / "optics.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SensorConfig(_Frozen):
    """Image sensor; noise figures are per output pixel."""

    width: int = Field(gt=0, le=8192)
    height: int = Field(gt=0, le=8192)
    full_well_e: float = Field(gt=0)
    read_noise_e: float = Field(ge=0)
    adc_bits: int = Field(ge=8, le=16)
    black_level_dn: float = Field(ge=0)
    prnu: float = Field(ge=0, lt=0.2)
    output_bit_depth: Literal[8, 16] = 8
    vignetting: float = Field(ge=0, lt=1)
    defocus: bool = True
    coc_at_dof_edge_px: float = Field(default=1.5, ge=0)

    @property
    def adc_max(self) -> int:
        return (1 << self.adc_bits) - 1


class RingConfig(_Frozen):
    """A ring of LEDs around the optical axis, `distance_from_focus` in front of the focus plane."""

    radius: float = Field(gt=0)
    leds: int = Field(ge=3, le=64)
    distance_from_focus: float = Field(gt=0)
    aim: Literal["parallel", "focus"]


class ChannelConfig(_Frozen):
    ring: str
    target_level: float = Field(gt=0, lt=1)


class MaterialConfig(_Frozen):
    """Per-channel diffuse albedo, specular reflectance and fluorescence yield; one roughness (GGX alpha)."""

    roughness: float = Field(gt=0, le=1)
    diffuse: dict[str, float]
    specular: dict[str, float]
    fluorescence: dict[str, float]

    def vector(self, field: str, channels: tuple[str, ...]) -> np.ndarray:
        table = getattr(self, field)
        missing = [c for c in channels if c not in table]
        if missing:
            raise ValueError(f"material {field} has no value for channel(s) {missing}")
        return np.array([table[c] for c in channels], dtype=np.float32)


class TextureConfig(_Frozen):
    albedo_variation: float = Field(ge=0, lt=1)
    albedo_scale: float = Field(gt=0)
    grinding_amplitude: float = Field(ge=0, lt=0.5)
    grinding_period: float = Field(gt=0)


class OpticsConfig(_Frozen):
    sensor: SensorConfig
    rings: dict[str, RingConfig]
    channels: dict[str, ChannelConfig]
    materials: dict[str, MaterialConfig]
    texture: TextureConfig

    @model_validator(mode="after")
    def _consistent(self) -> OpticsConfig:
        for name, ch in self.channels.items():
            if name not in LIGHT_CHANNELS:
                raise ValueError(
                    f"channels.{name}: not a light channel of the cell ({sorted(LIGHT_CHANNELS)})"
                )
            if ch.ring not in self.rings:
                raise ValueError(f"channels.{name}.ring '{ch.ring}' is not one of rings {sorted(self.rings)}")
        for required in ("coating", "fixture"):
            if required not in self.materials:
                raise ValueError(f"materials.{required} is missing")
        for mname, mat in self.materials.items():
            for field in ("diffuse", "specular", "fluorescence"):
                missing = sorted(set(self.channels) - set(getattr(mat, field)))
                if missing:
                    raise ValueError(f"materials.{mname}.{field} lacks channel(s) {missing}")
        return self

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(self.channels)

    def with_resolution(self, width: int, height: int) -> OpticsConfig:
        """The same optics rendering `width` x `height` frames: the sensor's central region of that aspect
        ratio, resampled (the field of view per frame row stays the camera's)."""
        sensor = self.sensor.model_copy(update={"width": width, "height": height})
        return self.model_copy(update={"sensor": SensorConfig.model_validate(sensor.model_dump())})

    def with_binning(self, camera: CameraParams, binning: int) -> OpticsConfig:
        """The same optics rendering the camera's whole sensor, `binning` x `binning` sensor pixels per
        frame pixel (1: native 2448 x 2048 for camera.yaml, 2: 1224 x 1024, 4: 612 x 512)."""
        return self.with_resolution(*binned_frame_size(camera, binning))


def binned_frame_size(camera: CameraParams, binning: int) -> tuple[int, int]:
    """(width, height) of the whole sensor binned `binning` x `binning`; the binning must divide both
    sensor sizes (a real camera bins whole pixel blocks)."""
    if isinstance(binning, bool) or not isinstance(binning, int | np.integer) or binning < 1:
        raise ValueError(f"binning must be a positive integer (1, 2, 4, ...), got {binning!r}")
    w, h = camera.width_px, camera.height_px
    if w % binning or h % binning:
        valid = [b for b in range(1, min(w, h) + 1) if w % b == 0 and h % b == 0]
        raise ValueError(
            f"binning {binning} does not divide the {w} x {h} sensor of camera '{camera.name}' "
            f"(valid: {valid})"
        )
    return w // int(binning), h // int(binning)


def load_optics(path: Path | None = None) -> OpticsConfig:
    """Read the optics YAML (default: `sim/config/optics.yaml`)."""
    return load_yaml_model(OpticsConfig, path or OPTICS_PATH, "optics file")
