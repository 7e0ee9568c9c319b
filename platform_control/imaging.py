"""Multispectral imaging plan and the capture it produces at each viewpoint.

Different defects show under different light: cracks under low-angle dark-field light, coating loss
and contamination under UV fluorescence, burns and heat tint in red/NIR. The `ImagingPlan` says which
light channels fire at a viewpoint, in which order, with which exposure and gain; `capture_viewpoint`
runs that sequence on any `LightController` + `Camera` and returns a `MultispectralCapture`: the stack
of frames with the metadata the dataset store and the detector need (viewpoint, stage pose, channel,
exposure, gain, timestamp per frame). Its ROS form is the `MultispectralCapture` message; the database's
`Capture` row is the stored form.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from platform_control.hardware import Camera, HardwareFault, LightController
from platform_control.params import load_yaml_model

CONFIG_PATH = Path(__file__).resolve().parent / "config" / "imaging.yaml"


@dataclass(frozen=True)
class LightChannel:
    """One light of the ring. ``wavelength_nm`` is None for broadband white."""

    name: str
    wavelength_nm: float | None
    illumination: Literal["bright-field", "dark-field", "fluorescence"]
    reveals: str


LIGHT_CHANNELS: dict[str, LightChannel] = {
    c.name: c
    for c in (
        LightChannel("white", None, "bright-field", "general surface appearance, dents, nicks"),
        LightChannel("uv365", 365.0, "fluorescence", "coating loss, contamination, penetrant indications"),
        LightChannel("blue450", 450.0, "bright-field", "fine surface texture, pitting"),
        LightChannel("red630", 630.0, "bright-field", "heat tint, burns"),
        LightChannel("nir850", 850.0, "bright-field", "oxidation, sub-coating burns"),
        LightChannel("darkfield", None, "dark-field", "cracks, scratches (low-angle white ring)"),
    )
}


class UnknownChannelError(ValueError):
    """A light channel name that is not in `LIGHT_CHANNELS` (or not fitted to this light ring)."""


def _check_channel(name: str, known: Sequence[str] = tuple(LIGHT_CHANNELS)) -> str:
    if name not in known:
        raise UnknownChannelError(f"unknown light channel '{name}'; known channels: {', '.join(known)}")
    return name


class ChannelSetting(BaseModel):
    """Camera settings for one light channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: str
    exposure_ms: float = Field(gt=0, le=2000)
    gain: float = Field(ge=0, le=48, description="dB")

    @field_validator("channel")
    @classmethod
    def _known(cls, value: str) -> str:
        return _check_channel(value)


class ImagingPlan(BaseModel):
    """Channels fired at every viewpoint, in capture order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: tuple[ChannelSetting, ...]
    light_settle_ms: float = Field(default=2.0, ge=0)
    readout_ms: float = Field(default=25.0, ge=0)

    @model_validator(mode="after")
    def _unique(self) -> ImagingPlan:
        if not self.channels:
            raise ValueError("imaging plan needs at least one channel")
        names = [c.channel for c in self.channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"imaging plan lists channel(s) {dupes} more than once")
        return self

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(c.channel for c in self.channels)

    def setting(self, channel: str) -> ChannelSetting:
        for c in self.channels:
            if c.channel == channel:
                return c
        _check_channel(channel)
        raise UnknownChannelError(f"light channel '{channel}' is not in this imaging plan {list(self.order)}")

    def only(self, channels: Sequence[str]) -> ImagingPlan:
        """The plan restricted to ``channels`` (kept in the plan's order)."""
        for name in channels:
            self.setting(name)
        return self.model_copy(update={"channels": tuple(c for c in self.channels if c.channel in channels)})

    @property
    def time_per_viewpoint_s(self) -> float:
        """Time to fire all channels at one viewpoint (settle + exposure + readout per channel)."""
        per = sum(self.light_settle_ms + c.exposure_ms + self.readout_ms for c in self.channels)
        return per / 1000.0


def load_imaging_plan(path: Path | None = None) -> ImagingPlan:
    """Read an imaging plan YAML (default: `config/imaging.yaml`); errors name the file and field."""
    return load_yaml_model(ImagingPlan, path or CONFIG_PATH, "imaging plan")


@dataclass(frozen=True, eq=False)
class MultispectralCapture:
    """The frames of one viewpoint, one per channel, with their metadata.

    Shape: frames (C, H, W) or (C, H, W, K), C = len(channels). stage_axes (5,). timestamps: seconds
    (the clock passed to `capture_viewpoint`, wall-clock epoch by default) at the start of each exposure.
    """

    viewpoint_index: int
    stage_axes: np.ndarray
    channels: tuple[str, ...]
    exposure_ms: tuple[float, ...]
    gain: tuple[float, ...]
    timestamps: tuple[float, ...]
    frames: np.ndarray

    def __post_init__(self) -> None:
        c = len(self.channels)
        for name in ("exposure_ms", "gain", "timestamps"):
            if len(getattr(self, name)) != c:
                raise ValueError(
                    f"MultispectralCapture.{name} has {len(getattr(self, name))} entries for {c} channels"
                )
        for ch in self.channels:
            _check_channel(ch)
        if self.frames.ndim not in (3, 4) or self.frames.shape[0] != c:
            raise ValueError(
                f"MultispectralCapture.frames has shape {self.frames.shape}, expected ({c}, H, W[, K])"
            )
        if self.viewpoint_index < 0:
            raise ValueError(f"MultispectralCapture.viewpoint_index must be >= 0, got {self.viewpoint_index}")
        axes = np.asarray(self.stage_axes, dtype=float).reshape(-1)
        if axes.shape != (5,):
            raise ValueError(f"MultispectralCapture.stage_axes must have 5 values, got {axes.shape[0]}")
        object.__setattr__(self, "stage_axes", axes)

    def frame(self, channel: str) -> np.ndarray:
        """The frame (H, W[, K]) taken under ``channel``."""
        _check_channel(channel)
        if channel not in self.channels:
            raise UnknownChannelError(
                f"capture {self.viewpoint_index} has no '{channel}' frame ({self.channels})"
            )
        return self.frames[self.channels.index(channel)]

    def metadata(self) -> dict[str, Any]:
        """JSON-serialisable description of the capture (everything but the pixels)."""
        return {
            "viewpoint_index": self.viewpoint_index,
            "stage_axes": self.stage_axes.tolist(),
            "channels": [
                {"channel": ch, "exposure_ms": e, "gain": g, "timestamp": t}
                for ch, e, g, t in zip(
                    self.channels, self.exposure_ms, self.gain, self.timestamps, strict=True
                )
            ],
            "frame_shape": list(self.frames.shape[1:]),
            "dtype": str(self.frames.dtype),
        }

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any], frames: np.ndarray) -> MultispectralCapture:
        """Rebuild a capture from `metadata()` and its frames (e.g. read back from the dataset store)."""
        chans = meta["channels"]
        return cls(
            viewpoint_index=int(meta["viewpoint_index"]),
            stage_axes=np.asarray(meta["stage_axes"], dtype=float),
            channels=tuple(c["channel"] for c in chans),
            exposure_ms=tuple(float(c["exposure_ms"]) for c in chans),
            gain=tuple(float(c["gain"]) for c in chans),
            timestamps=tuple(float(c["timestamp"]) for c in chans),
            frames=np.asarray(frames),
        )


def capture_viewpoint(
    plan: ImagingPlan,
    lights: LightController,
    camera: Camera,
    viewpoint_index: int,
    stage_axes: Sequence[float] | np.ndarray,
    *,
    clock: Callable[[], float] = time.time,
    wait: Callable[[float], None] = time.sleep,
) -> MultispectralCapture:
    """Fire every channel of ``plan`` in order and capture one frame each; the lights end up off.

    Raises `UnknownChannelError` if the light ring lacks a channel of the plan (before any light is
    switched), `HardwareFault` if the camera returns frames of differing shapes.
    """
    available = tuple(lights.channels)
    for name in plan.order:
        if name not in available:
            raise UnknownChannelError(
                f"imaging plan channel '{name}' is not fitted to the light ring {available}"
            )
    frames, stamps = [], []
    try:
        for setting in plan.channels:
            lights.set(setting.channel)
            if plan.light_settle_ms > 0:
                wait(plan.light_settle_ms / 1000.0)
            stamps.append(float(clock()))
            frame = np.asarray(camera.capture(setting.exposure_ms, setting.gain))
            if frames and (frame.shape != frames[0].shape or frame.dtype != frames[0].dtype):
                raise HardwareFault(
                    "camera",
                    f"frame for '{setting.channel}' is {frame.shape} {frame.dtype}, "
                    f"earlier frames {frames[0].shape} {frames[0].dtype}",
                )
            frames.append(frame)
    finally:
        lights.off()
    return MultispectralCapture(
        viewpoint_index=viewpoint_index,
        stage_axes=np.asarray(stage_axes, dtype=float),
        channels=plan.order,
        exposure_ms=tuple(c.exposure_ms for c in plan.channels),
        gain=tuple(c.gain for c in plan.channels),
        timestamps=tuple(stamps),
        frames=np.stack(frames),
    )
