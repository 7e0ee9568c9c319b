"""The simulated camera's imaging chain (no rendering): intrinsics, exposure, gain, noise, vignetting,
defocus, quantisation, and clear errors for bad settings and bad configuration files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from platform_control.params import load_camera_params
from platform_control.sim.optics import OPTICS_PATH, load_optics
from platform_control.sim.sensor import SensorModel, frame_geometry


@pytest.fixture(scope="module")
def sensor() -> SensorModel:
    return SensorModel(load_optics().with_resolution(256, 256).sensor, load_camera_params())


def test_frame_intrinsics_keep_the_real_cameras_field_of_view() -> None:
    cam = load_camera_params()
    geo = frame_geometry(cam, 1024, 1024)
    assert geo.binning == pytest.approx(2.0)  # central 2048 x 2048 of the 2448 x 2048 sensor, 2 x 2 binned
    assert geo.focal_px == pytest.approx(cam.focal_length_px / 2)
    k = geo.intrinsics
    assert k[0, 2] == 512 and k[1, 2] == 512
    # the frame's height covers exactly the sensor's height on the focus plane
    height_m = 1024 / geo.focal_px * cam.working_distance
    assert height_m == pytest.approx(cam.field_of_view_m[1], rel=1e-9)
    wide = frame_geometry(cam, 1224, 1024)
    assert wide.binning == pytest.approx(2.0) and wide.focal_px == pytest.approx(geo.focal_px)


def _flat(sensor: SensorModel, level: float) -> np.ndarray:
    return np.full((sensor.config.height, sensor.config.width), level, np.float32)


def test_signal_scales_with_exposure_and_gain(sensor: SensorModel) -> None:
    rng = np.random.default_rng(0)
    black = sensor.config.black_level_dn / 16  # 12-bit black level in 8-bit output counts
    base = sensor.expose(_flat(sensor, 1.0), 4.0, 0.0, 500.0, rng).astype(float)
    double = sensor.expose(_flat(sensor, 1.0), 8.0, 0.0, 500.0, rng).astype(float)
    gained = sensor.expose(_flat(sensor, 1.0), 4.0, 6.0206, 500.0, rng).astype(float)
    centre = (slice(96, 160), slice(96, 160))
    b, d, g = (x[centre].mean() - black for x in (base, double, gained))
    assert d / b == pytest.approx(2.0, rel=0.03)
    assert g / b == pytest.approx(2.0, rel=0.03)


def test_noise_is_shot_plus_read_noise(sensor: SensorModel) -> None:
    """Variance in electrons ~ signal + read noise^2 (photon transfer), measured on a flat field."""
    cfg = sensor.config
    rng = np.random.default_rng(1)
    sensor16 = SensorModel(
        cfg.model_copy(update={"output_bit_depth": 16, "prnu": 0.0, "vignetting": 0.0}), load_camera_params()
    )
    electrons = 2000.0
    frame = sensor16.expose(_flat(sensor16, 1.0), 1.0, 0.0, electrons, rng).astype(float) / 16
    centre = frame[100:156, 100:156]  # flat enough (cos^4 falls < 0.1 % here)
    signal_e = (centre.mean() - cfg.black_level_dn) * sensor16.e_per_dn
    var_e = centre.var() * sensor16.e_per_dn**2
    assert signal_e == pytest.approx(electrons, rel=0.02)
    expected = electrons + cfg.read_noise_e**2 + sensor16.e_per_dn**2 / 12  # + quantisation
    assert var_e == pytest.approx(expected, rel=0.1)


def test_dark_frame_sits_at_the_black_level(sensor: SensorModel) -> None:
    frame = sensor.expose(_flat(sensor, 0.0), 30.0, 12.0, 0.0, np.random.default_rng(2))
    assert frame.dtype == np.uint8
    assert abs(frame.mean() - sensor.config.black_level_dn / 16) < 1.0


def test_vignetting_darkens_the_corners(sensor: SensorModel) -> None:
    frame = sensor.expose(_flat(sensor, 1.0), 5.0, 0.0, 1500.0, np.random.default_rng(3)).astype(float)
    centre, corner = frame[112:144, 112:144].mean(), frame[:16, :16].mean()
    expected = 1 - sensor.config.vignetting  # the lens term; cos^4 adds ~1 % at this field angle
    assert corner / centre == pytest.approx(expected, abs=0.04)


def test_saturation_clips_at_full_scale(sensor: SensorModel) -> None:
    frame = sensor.expose(_flat(sensor, 1.0), 100.0, 0.0, 1e5, np.random.default_rng(4))
    assert frame[100:150, 100:150].min() == 255


def test_defocus_blurs_out_of_focus_points_only(sensor: SensorModel) -> None:
    cam = load_camera_params()
    edge = np.zeros((256, 256), np.float32)
    edge[:, 128:] = 1.0
    sharp = sensor.defocus(edge, sensor.defocus_plan(np.full_like(edge, cam.working_distance)))
    blurred = sensor.defocus(edge, sensor.defocus_plan(np.full_like(edge, cam.working_distance + 0.03)))
    np.testing.assert_array_equal(sharp, edge)
    assert 0.05 < blurred[128, 126] < 0.5 and blurred[128, 100] < 1e-3
    assert sensor.blur_diameter(np.array([cam.working_distance + cam.depth_of_field / 2]))[
        0
    ] == pytest.approx(sensor.config.coc_at_dof_edge_px, rel=0.05)


def test_bad_exposure_and_shape_are_rejected(sensor: SensorModel) -> None:
    with pytest.raises(ValueError, match="exposure"):
        sensor.expose(_flat(sensor, 1.0), 0.0, 0.0, 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="sensor is"):
        sensor.expose(np.zeros((10, 10), np.float32), 1.0, 0.0, 1.0, np.random.default_rng(0))


def test_optics_file_errors_name_the_file_and_field(tmp_path: Path) -> None:
    data = yaml.safe_load(OPTICS_PATH.read_text())
    data["channels"]["infrared_laser"] = {"ring": "bright_field", "target_level": 0.5}
    bad = tmp_path / "optics.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=r"(?s)optics\.yaml.*infrared_laser"):
        load_optics(bad)
    data = yaml.safe_load(OPTICS_PATH.read_text())
    del data["materials"]["coating"]["diffuse"]["uv365"]
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=r"materials\.coating\.diffuse lacks channel\(s\) \['uv365'\]"):
        load_optics(bad)
    with pytest.raises(FileNotFoundError, match=r"no_such\.yaml"):
        load_optics(tmp_path / "no_such.yaml")


@pytest.mark.parametrize("mean", [0.5, 30.0, 99.0, 400.0, 5000.0])
def test_shot_noise_has_the_poisson_mean_and_variance(mean: float) -> None:
    """Exact Poisson below POISSON_EXACT_BELOW electrons, its normal limit above: whole electrons,
    mean and variance = the expected count either way."""
    from platform_control.sim.sensor import POISSON_EXACT_BELOW, shot_noise

    lam = np.full(200_000, mean, np.float32)
    got = shot_noise(lam, 10500.0, np.random.default_rng(1))
    assert np.array_equal(got, np.rint(got)) and got.min() >= 0
    assert got.mean() == pytest.approx(mean, rel=0.01, abs=0.01)
    assert got.var() == pytest.approx(mean, rel=0.02)
    if mean < POISSON_EXACT_BELOW:
        assert np.mean(got == 0) == pytest.approx(np.exp(-mean), abs=0.005)


def test_shot_noise_saturates_at_the_full_well() -> None:
    from platform_control.sim.sensor import shot_noise

    got = shot_noise(np.array([1e4, 5e4], np.float32), 10500.0, np.random.default_rng(0))
    assert got[1] == 10500.0 and got[0] < 10500.0
