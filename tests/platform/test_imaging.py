"""Imaging plan loading/validation and the per-viewpoint capture sequence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from platform_fakes import FakeCamera, FakeLights

from platform_control.hardware import HardwareFault
from platform_control.imaging import (
    LIGHT_CHANNELS,
    ImagingPlan,
    MultispectralCapture,
    UnknownChannelError,
    capture_viewpoint,
    load_imaging_plan,
)

ALL = tuple(LIGHT_CHANNELS)


def test_default_plan_fires_all_six_channels_with_their_settings() -> None:
    plan = load_imaging_plan()
    assert set(plan.order) == {"white", "uv365", "blue450", "red630", "nir850", "darkfield"}
    assert plan.order[-1] == "uv365"  # fluorescence last
    assert plan.setting("darkfield").exposure_ms == 30.0 and plan.setting("uv365").gain == 12.0
    # settle + exposure + readout per channel: 6*2 + (8+30+12+10+15+40) + 6*25 ms
    assert plan.time_per_viewpoint_s == pytest.approx((12 + 115 + 150) / 1000)
    assert LIGHT_CHANNELS["nir850"].wavelength_nm == 850.0


def test_unknown_channel_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "plan.yaml"
    bad.write_text("channels:\n  - {channel: xray, exposure_ms: 5, gain: 0}\n")
    with pytest.raises(
        ValueError, match=r"(?s)plan\.yaml.*unknown light channel 'xray'.*known channels: white"
    ):
        load_imaging_plan(bad)
    plan = load_imaging_plan()
    with pytest.raises(UnknownChannelError, match="'green530'"):
        plan.setting("green530")
    with pytest.raises(UnknownChannelError, match="not in this imaging plan"):
        plan.only(["white"]).setting("uv365")


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("channels: []\n", "at least one channel"),
        ("channels:\n  - {channel: white, exposure_ms: 0, gain: 0}\n", "exposure_ms"),
        ("channels:\n  - {channel: white, exposure_ms: 5, gain: 60}\n", "gain"),
        (
            "channels:\n  - {channel: white, exposure_ms: 5, gain: 0}\n"
            "  - {channel: white, exposure_ms: 6, gain: 0}\n",
            "more than once",
        ),
        ("channels: [\n", "not valid YAML"),
    ],
)
def test_malformed_plans_name_the_problem(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ValueError, match=message):
        load_imaging_plan(path)


def test_capture_fires_channels_in_order_and_records_metadata() -> None:
    plan = load_imaging_plan().only(["white", "darkfield", "uv365"])
    lights = FakeLights(ALL)
    camera = FakeCamera(lights)
    ticks = iter(np.arange(100.0, 200.0, 1.0))
    waits: list[float] = []
    axes = np.array([0.01, -0.02, 0.1, 0.3, 1.2])
    cap = capture_viewpoint(
        plan, lights, camera, 7, axes, clock=lambda: float(next(ticks)), wait=waits.append
    )
    assert cap.channels == ("white", "darkfield", "uv365")
    assert [c[0] for c in camera.calls] == ["white", "darkfield", "uv365"]  # each frame under its own light
    assert [c[1:] for c in camera.calls] == [(8.0, 0.0), (30.0, 12.0), (40.0, 12.0)]
    assert lights.log == ["white", "darkfield", "uv365", "off"] and lights.on is None
    assert waits == [0.002] * 3
    assert cap.timestamps == (100.0, 101.0, 102.0)
    assert cap.frames.shape == (3, 8, 10) and cap.frames.dtype == np.uint8
    # the darkfield frame is the one the camera took under darkfield: index 5 -> 50 + 30 ms + 12 dB
    assert int(cap.frame("darkfield")[0, 0]) == 5 * 10 + 30 + 12
    assert cap.viewpoint_index == 7 and np.allclose(cap.stage_axes, axes)
    meta = json.loads(json.dumps(cap.metadata()))
    again = MultispectralCapture.from_metadata(meta, cap.frames)
    assert again.channels == cap.channels and again.exposure_ms == cap.exposure_ms and again.gain == cap.gain
    assert again.timestamps == cap.timestamps and np.allclose(again.stage_axes, axes)
    with pytest.raises(UnknownChannelError, match="no 'red630' frame"):
        cap.frame("red630")


def test_light_ring_without_a_plan_channel_is_refused_before_any_light() -> None:
    lights = FakeLights(("white", "darkfield"))
    with pytest.raises(UnknownChannelError, match="'blue450' is not fitted"):
        capture_viewpoint(
            load_imaging_plan(), lights, FakeCamera(lights), 0, np.zeros(5), wait=lambda s: None
        )
    assert lights.log == []


def test_camera_failure_switches_the_lights_off() -> None:
    lights = FakeLights(ALL)
    camera = FakeCamera(lights, fail_on="blue450")
    with pytest.raises(HardwareFault, match="timeout under blue450"):
        capture_viewpoint(load_imaging_plan(), lights, camera, 0, np.zeros(5), wait=lambda s: None)
    assert lights.on is None and lights.log[-1] == "off"


def test_frames_of_different_shapes_are_a_hardware_fault() -> None:
    lights = FakeLights(ALL)
    camera = FakeCamera(lights)
    original = camera.capture

    def shrinking(exposure_ms: float, gain: float) -> np.ndarray:
        frame = original(exposure_ms, gain)
        return frame if len(camera.calls) == 1 else frame[:4]

    camera.capture = shrinking  # type: ignore[method-assign]
    with pytest.raises(HardwareFault, match="earlier frames"):
        capture_viewpoint(load_imaging_plan(), lights, camera, 0, np.zeros(5), wait=lambda s: None)


def test_capture_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="expected \\(2, H, W"):
        MultispectralCapture(
            0, np.zeros(5), ("white", "uv365"), (1.0, 1.0), (0.0, 0.0), (0.0, 0.0), np.zeros((3, 4, 4))
        )
    with pytest.raises(UnknownChannelError):
        MultispectralCapture(0, np.zeros(5), ("infrared",), (1.0,), (0.0,), (0.0,), np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="5 values"):
        MultispectralCapture(0, np.zeros(4), ("white",), (1.0,), (0.0,), (0.0,), np.zeros((1, 4, 4)))
    assert isinstance(
        ImagingPlan.model_validate({"channels": [{"channel": "white", "exposure_ms": 1, "gain": 0}]}),
        ImagingPlan,
    )
