"""The simulated camera's imaging chain: intrinsics of the rendered frame, lens vignetting and defocus,
sensor exposure, shot and read noise, PRNU, gain and ADC quantisation.

The rendered frame is the sensor's central region with the frame's aspect ratio, binned down to
`width` x `height` (default 1024 x 1024 from 2448 x 2048: the central 2048 x 2048, 2 x 2 binned), so the
frame keeps the real camera's field of view per pixel row and its pinhole geometry. The whole sensor,
binned by a whole number of pixels, is `OpticsConfig.with_binning` (2448 x 2048 native, 1224 x 1024,
612 x 512).

The defocus plan (which pixels blend which blur levels) depends on depth only, so a capture computes it
once for all channels, and each blur level is computed only over the region its pixels need. Noise is
drawn in fixed blocks of rows on the worker threads (`parallel.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from platform_control.params import CameraParams
from platform_control.sim.optics import SensorConfig
from platform_control.sim.parallel import for_chunks

_BLUR_SIGMAS = (0.0, 0.6, 1.2, 2.4, 4.8, 9.6)
_NOISE_ROWS = 64  # rows per noise block (fixed: the noise must not depend on the thread count)
POISSON_EXACT_BELOW = 100.0  # electrons: below, shot noise is drawn from the Poisson law itself


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


def frame_metadata(camera: CameraParams, width: int, height: int) -> dict[str, float | int]:
    """Frame size, sensor pixels binned into each frame pixel, and the physical side of one pixel on
    the blade at the working distance (micrometres): what a measurement in pixels needs."""
    geo = frame_geometry(camera, width, height)
    return {
        "width_px": width,
        "height_px": height,
        "binning": round(geo.binning, 6),
        "pixel_footprint_um": round(geo.pixel_footprint_um(camera.working_distance), 4),
    }


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
        """Defocus blur diameter (frame pixels) of points at optical depth `depth` (m); 0 where
        nothing is seen (depth inf)."""
        wd, half_dof = self.camera.working_distance, 0.5 * self.camera.depth_of_field
        with np.errstate(divide="ignore", invalid="ignore"):
            b = (
                self.config.coc_at_dof_edge_px
                * np.abs(depth - wd)
                / half_dof
                * (wd / np.maximum(depth, 1e-3))
            )
        return np.nan_to_num(b, nan=0.0, posinf=2 * _BLUR_SIGMAS[-1] * 2.5).astype(np.float32)

    def defocus_plan(self, depth: np.ndarray, pixels: np.ndarray | None = None) -> DefocusPlan:
        """The per-pixel blur of a depth map (H, W), shared by every channel of a capture. `pixels`:
        flat indices of the pixels that see something (None: all); the others are not blurred.

        A pixel with blur sigma between two levels lo < hi takes (1 - t) x blur(lo) + t x blur(hi);
        the plan holds, per level, that weight over the bounding box of the pixels that use it."""
        h, w = self.config.height, self.config.width
        if depth.shape != (h, w):
            raise ValueError(f"depth is {depth.shape}, sensor is {(h, w)}")
        if pixels is None:
            pixels = np.arange(h * w)
        sigma = np.clip(self.blur_diameter(depth.reshape(-1)[pixels]) / 2.5, 0, _BLUR_SIGMAS[-1])
        if not self.config.defocus or sigma.size == 0 or float(sigma.max()) < 0.3:
            return DefocusPlan(None, ())
        edges = np.asarray(_BLUR_SIGMAS, np.float32)
        pair = np.clip(np.searchsorted(edges, sigma, side="right") - 1, 0, len(edges) - 2)
        pair[sigma <= 0] = -1  # sigma 0 (in focus, or nothing seen) keeps the radiance
        rows, cols = np.divmod(pixels.astype(np.int32), np.int32(w))
        sharp = np.ones(h * w, np.float32)  # weight of the unblurred radiance
        sharp[pixels[pair > 0]] = 0
        groups = [np.flatnonzero(pair == k) for k in range(len(edges) - 1)] + [np.empty(0, np.int64)]
        levels: list[_Level] = []
        for k, s in enumerate(_BLUR_SIGMAS):
            # pixels with this level as the lower (weight 1 - t) and as the upper (weight t) of their pair
            sides = [(groups[k], True), (groups[k - 1] if k else groups[-1], False)]
            sides = [(sel, lower) for sel, lower in sides if sel.size]
            if not sides:
                continue
            weights = []
            for sel, lower in sides:
                lo = _BLUR_SIGMAS[k] if lower else _BLUR_SIGMAS[k - 1]
                hi = _BLUR_SIGMAS[k + 1] if lower else _BLUR_SIGMAS[k]
                frac = ((sigma[sel] - lo) / (hi - lo)).astype(np.float32)
                weights.append(1 - frac if lower else frac)
            if k == 0:
                sharp[pixels[sides[0][0]]] = weights[0]
                continue
            r0 = min(int(rows[sel].min()) for sel, _ in sides)
            r1 = max(int(rows[sel].max()) for sel, _ in sides) + 1
            c0 = min(int(cols[sel].min()) for sel, _ in sides)
            c1 = max(int(cols[sel].max()) for sel, _ in sides) + 1
            weight = np.zeros((r1 - r0) * (c1 - c0), np.float32)
            for (sel, _), wk in zip(sides, weights, strict=True):
                weight[(rows[sel] - r0) * (c1 - c0) + (cols[sel] - c0)] = wk
            margin = int(np.ceil(4 * s)) + 2  # > the half width of OpenCV's kernel for this sigma
            source = (
                slice(max(r0 - margin, 0), min(r1 + margin, h)),
                slice(max(c0 - margin, 0), min(c1 + margin, w)),
            )
            inner = (
                slice(r0 - source[0].start, r1 - source[0].start),
                slice(c0 - source[1].start, c1 - source[1].start),
            )
            region = (slice(r0, r1), slice(c0, c1))
            levels.append(_Level(s, region, weight.reshape(r1 - r0, c1 - c0), source, inner))
        return DefocusPlan(sharp.reshape(h, w), tuple(levels))

    def defocus(self, radiance: np.ndarray, plan: DefocusPlan) -> np.ndarray:
        """Depth-dependent blur: per pixel, interpolate between Gaussian-blurred copies (each copy is
        computed only over the region its pixels need, plus the kernel's reach)."""
        if plan.sharp is None:
            return radiance
        out = radiance * plan.sharp
        for level in plan.levels:
            blurred = cv2.GaussianBlur(np.ascontiguousarray(radiance[level.source]), (0, 0), level.sigma)
            out[level.region] += level.weight * blurred[level.inner]
        return out

    def expose(
        self,
        radiance: np.ndarray,
        exposure_ms: float,
        gain_db: float,
        electrons_per_unit: float,
        rng: np.random.Generator,
        defocus: DefocusPlan | None = None,
        signal_pixels: np.ndarray | None = None,
    ) -> np.ndarray:
        """A frame (H, W) uint8 or uint16 from radiance (H, W) float32.

        `defocus`: the scene's blur (None: sharp). `signal_pixels`: flat indices, ascending, outside of
        which the radiance is 0 (None: anywhere); the others get only dark signal and read noise.
        The noise is drawn per fixed block of rows from generators spawned from `rng`, so a seed gives
        the same frame with any number of worker threads."""
        cfg = self.config
        if exposure_ms <= 0:
            raise ValueError(f"exposure must be positive, got {exposure_ms} ms")
        if radiance.shape != (cfg.height, cfg.width):
            raise ValueError(f"radiance is {radiance.shape}, sensor is {(cfg.height, cfg.width)}")
        img = radiance if defocus is None else self.defocus(radiance, defocus)
        flat_img, flat_field = img.reshape(-1), self.flat_field.reshape(-1)
        n = cfg.height * cfg.width
        signal = np.arange(n) if signal_pixels is None else np.asarray(signal_pixels)
        scale = np.float32(electrons_per_unit * exposure_ms)
        gain = np.float32(10 ** (gain_db / 20) / self.e_per_dn)
        out = np.empty(n, np.uint8 if cfg.output_bit_depth == 8 else np.uint16)
        chunk = _NOISE_ROWS * cfg.width
        starts = range(0, n, chunk)
        generators = dict(zip(starts, rng.spawn(len(starts)), strict=True))

        def work(s: int, e: int) -> None:
            g = generators[s]
            sig = signal[np.searchsorted(signal, s) : np.searchsorted(signal, e)]
            electrons = np.zeros(e - s, np.float32)
            electrons[sig - s] = shot_noise(flat_img[sig] * flat_field[sig] * scale, cfg.full_well_e, g)
            electrons += g.standard_normal(e - s, dtype=np.float32) * np.float32(cfg.read_noise_e)
            dn = electrons * gain + np.float32(cfg.black_level_dn)
            dn = np.clip(np.rint(dn), 0, cfg.adc_max)
            if cfg.output_bit_depth == 8:
                out[s:e] = dn / (1 << (cfg.adc_bits - 8))
            else:
                out[s:e] = dn * (1 << (16 - cfg.adc_bits))

        for_chunks(work, n, chunk)
        return out.reshape(cfg.height, cfg.width)


def shot_noise(electrons: np.ndarray, full_well_e: float, rng: np.random.Generator) -> np.ndarray:
    """Photo-electrons collected for mean `electrons` (float32), then the well saturates.

    Poisson below `POISSON_EXACT_BELOW` electrons; above, its normal limit with the same mean and
    variance (rounded to whole electrons; skewness 1/sqrt(mean) < 0.1 there), which is several times
    cheaper to draw and runs in parallel."""
    lam = np.clip(electrons, 0, 2 * full_well_e)
    out = lam + np.sqrt(lam) * rng.standard_normal(lam.shape, dtype=np.float32)
    np.rint(out, out=out)
    low = np.flatnonzero(lam < POISSON_EXACT_BELOW)
    if low.size:
        out[low] = rng.poisson(lam[low])
    return np.minimum(out, np.float32(full_well_e))


@dataclass(frozen=True)
class _Level:
    """One blur level: `weight` (over `region` of the frame) of the radiance blurred with `sigma`,
    which is computed over `source` (region plus the kernel's reach); `inner`: region within source."""

    sigma: float
    region: tuple[slice, slice]
    weight: np.ndarray
    source: tuple[slice, slice]
    inner: tuple[slice, slice]


@dataclass(frozen=True)
class DefocusPlan:
    """How a depth map blurs every channel: the weight (H, W) of the sharp radiance (None: nothing is
    blurred) and the blur levels."""

    sharp: np.ndarray | None
    levels: tuple[_Level, ...]
