"""The simulated camera's imaging chain: intrinsics of the rendered frame, lens vignetting and defocus,
sensor exposure, shot and read noise, PRNU, gain and ADC quantisation.

The rendered frame is the sensor's central region with the frame's aspect ratio, binned down to
`width` x `height` (default 1024 x 1024 from 2448 x 2048: the central 2048 x 2048, 2 x 2 binned), so the
frame keeps the real camera's field of view per pixel row and its pinhole geometry.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

from platform_control.params import CameraParams
from platform_control.sim.optics import SensorConfig

_BLUR_SIGMAS = (0.0, 0.6, 1.2, 2.4, 4.8, 9.6)


@dataclass(frozen=True)
class FrameGeometry:
    """Pinhole intrinsics of the rendered frame (principal point at the centre)."""

    width: int
    height: int
    focal_px: float
    binning: float  # sensor pixels per frame pixel

    @property
    def intrinsics(self) -> np.ndarray:
        return np.array(
            [[self.focal_px, 0, self.width / 2], [0, self.focal_px, self.height / 2], [0, 0, 1.0]]
        )

    @property
    def fovy_deg(self) -> float:
        return float(np.degrees(2 * np.arctan(self.height / 2 / self.focal_px)))

    def pixel_footprint_um(self, distance_m: float) -> float:
        """Side of one frame pixel's footprint (micrometres) on a plane facing the camera at `distance_m`
        (the pinhole model the renderer uses: distance / focal length in pixels)."""
        if not distance_m > 0:
            raise ValueError(f"distance must be positive, got {distance_m} m")
        return distance_m / self.focal_px * 1e6


def frame_geometry(camera: CameraParams, width: int, height: int) -> FrameGeometry:
    aspect = width / height
    crop_h = min(camera.height_px, camera.width_px / aspect)
    binning = crop_h / height
    return FrameGeometry(width, height, camera.focal_length_px / binning, binning)


class SensorModel:
    """Turns per-pixel radiance into a frame. `electrons_per_unit` (per channel) converts radiance x
    exposure (ms) into photo-electrons; the renderer calibrates it (see `MultispectralRenderer`)."""

    def __init__(self, config: SensorConfig, camera: CameraParams, pattern_seed: int = 2448) -> None:
        self.config = config
        self.camera = camera
        self.geometry = frame_geometry(camera, config.width, config.height)
        h, w, f = config.height, config.width, self.geometry.focal_px
        v, u = np.mgrid[0:h, 0:w].astype(np.float32)
        x, y = (u + 0.5 - w / 2) / f, (v + 0.5 - h / 2) / f
        cos4 = (1 / (1 + x * x + y * y)) ** 2
        r2 = ((u + 0.5 - w / 2) ** 2 + (v + 0.5 - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
        lens = 1 - config.vignetting * r2 * r2
        prnu = 1 + config.prnu * np.random.default_rng(pattern_seed).standard_normal((h, w)).astype(
            np.float32
        )
        self.flat_field = (cos4 * lens * prnu).astype(np.float32)  # vignetting x PRNU, per pixel
        self.e_per_dn = config.full_well_e / config.adc_max  # at 0 dB

    def full_scale_electrons(self, gain_db: float) -> float:
        """Electrons that fill the ADC (above black level) at this gain (never more than the full well)."""
        return min(
            (self.config.adc_max - self.config.black_level_dn) * self.e_per_dn / 10 ** (gain_db / 20),
            self.config.full_well_e,
        )

    def blur_diameter(self, depth: np.ndarray) -> np.ndarray:
        """Defocus blur diameter (frame pixels) of points at optical depth `depth` (m)."""
        wd, half_dof = self.camera.working_distance, 0.5 * self.camera.depth_of_field
        with np.errstate(divide="ignore", invalid="ignore"):
            b = (
                self.config.coc_at_dof_edge_px
                * np.abs(depth - wd)
                / half_dof
                * (wd / np.maximum(depth, 1e-3))
            )
        return np.nan_to_num(b, nan=0.0, posinf=2 * _BLUR_SIGMAS[-1] * 2.5).astype(np.float32)

    def defocus(self, radiance: np.ndarray, blur_diameter: np.ndarray) -> np.ndarray:
        """Depth-dependent blur: per pixel, interpolate between Gaussian-blurred copies."""
        sigma = np.clip(blur_diameter / 2.5, 0, _BLUR_SIGMAS[-1])
        if float(sigma.max()) < 0.3:
            return radiance
        out = np.zeros_like(radiance)
        for lo, hi in itertools.pairwise(_BLUR_SIGMAS):
            sel = (sigma >= lo) & (sigma <= hi)
            if not sel.any():
                continue
            a = radiance if lo == 0 else cv2.GaussianBlur(radiance, (0, 0), lo)
            b = cv2.GaussianBlur(radiance, (0, 0), hi)
            t = (sigma[sel] - lo) / (hi - lo)
            out[sel] = (1 - t) * a[sel] + t * b[sel]
        return out

    def expose(
        self,
        radiance: np.ndarray,
        exposure_ms: float,
        gain_db: float,
        electrons_per_unit: float,
        rng: np.random.Generator,
        depth: np.ndarray | None = None,
    ) -> np.ndarray:
        """A frame (H, W) uint8 or uint16 from radiance (H, W) float32."""
        cfg = self.config
        if exposure_ms <= 0:
            raise ValueError(f"exposure must be positive, got {exposure_ms} ms")
        if radiance.shape != (cfg.height, cfg.width):
            raise ValueError(f"radiance is {radiance.shape}, sensor is {(cfg.height, cfg.width)}")
        img = radiance
        if cfg.defocus and depth is not None:
            img = self.defocus(radiance, self.blur_diameter(depth))
        electrons = img * self.flat_field * np.float32(electrons_per_unit * exposure_ms)
        # photon shot noise, then the pixel's well saturates; read noise comes after the well
        np.clip(electrons, 0, 2 * cfg.full_well_e, out=electrons)
        signal = np.minimum(rng.poisson(electrons).astype(np.float32), np.float32(cfg.full_well_e))
        signal += rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(cfg.read_noise_e)
        dn = signal * np.float32(10 ** (gain_db / 20) / self.e_per_dn) + np.float32(cfg.black_level_dn)
        dn = np.clip(np.rint(dn), 0, cfg.adc_max)
        if cfg.output_bit_depth == 8:
            return (dn / (1 << (cfg.adc_bits - 8))).astype(np.uint8)
        return (dn * (1 << (16 - cfg.adc_bits))).astype(np.uint16)
