"""Light rings and per-pixel shading: Lambert diffuse + GGX specular + fluorescence, per LED.

Every LED is a small Lambertian emitter (intensity ~ cos of the angle off its axis, inverse-square
fall-off). A ring's response at a pixel is split into a diffuse irradiance term and a specular term
(which depends on the pixel's roughness); channels that share a ring reuse both terms and differ only
in the materials' per-channel albedo, specular reflectance and fluorescence. Shadows cast by other
geometry are not modelled (the rings sit around the optical axis, so little is shadowed that is seen).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from platform_control.sim.optics import RingConfig
from platform_control.sim.parallel import for_chunks


@dataclass(frozen=True)
class LedRing:
    """LED positions and emission axes in the world frame; `power` per LED (the ring sums to 1)."""

    name: str
    positions: np.ndarray
    axes: np.ndarray

    @property
    def power(self) -> float:
        return 1.0 / len(self.positions)


def build_ring(name: str, config: RingConfig, camera_pose: np.ndarray, working_distance: float) -> LedRing:
    """Place a ring around the optical axis of the camera (`camera_pose`: optical frame -> world)."""
    origin, x_axis, y_axis, z_axis = (
        camera_pose[:3, 3],
        camera_pose[:3, 0],
        camera_pose[:3, 1],
        camera_pose[:3, 2],
    )
    if config.distance_from_focus > working_distance:
        raise ValueError(
            f"ring {name}: {config.distance_from_focus} m from the focus plane is behind the camera"
        )
    centre = origin + (working_distance - config.distance_from_focus) * z_axis
    phi = 2 * np.pi * (np.arange(config.leds) + 0.5) / config.leds
    positions = centre + config.radius * (np.cos(phi)[:, None] * x_axis + np.sin(phi)[:, None] * y_axis)
    if config.aim == "parallel":
        axes = np.repeat(z_axis[None], config.leds, axis=0)
    else:
        focus = origin + working_distance * z_axis
        axes = focus - positions
        axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    return LedRing(name, positions, axes)


@dataclass
class RingResponse:
    """Shape: (N,) each. diffuse = sum over LEDs of irradiance * max(0, n.l); specular = GGX term."""

    diffuse: np.ndarray
    specular: np.ndarray


_CHUNK = 4096  # pixels per work item: the (LEDs, chunk) temporaries stay in the CPU cache


def ring_response(
    points: np.ndarray,
    normals: np.ndarray,
    camera_position: np.ndarray,
    roughness: np.ndarray,
    ring: LedRing,
) -> RingResponse:
    """Diffuse and specular response of points (N, 3) with unit normals (N, 3), world frame.

    All LEDs of the ring at once per chunk of pixels, in float32; the half vector enters only through
    n.h = (n.l + n.v) / |l + v| with |l + v|^2 = 2 + 2 l.v, and the per-pixel GGX factors that do not
    depend on the LED are applied once after the sum."""
    n = len(points)
    diffuse = np.empty(n, np.float32)
    specular = np.empty(n, np.float32)
    pos = ring.positions.astype(np.float32)
    axes = ring.axes.astype(np.float32)
    cam = np.asarray(camera_position, np.float32)
    power = np.float32(ring.power)
    rough = np.broadcast_to(np.asarray(roughness, np.float32), (n,))

    def work(s: int, e: int) -> None:
        diffuse[s:e], specular[s:e] = _ring_chunk(
            points[s:e], normals[s:e], rough[s:e], cam, pos, axes, power
        )

    for_chunks(work, n, _CHUNK)
    return RingResponse(diffuse, specular)


def _ring_chunk(
    points: np.ndarray,
    normals: np.ndarray,
    roughness: np.ndarray,
    cam: np.ndarray,
    pos: np.ndarray,
    axes: np.ndarray,
    power: np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    px, py, pz = np.ascontiguousarray(points.T, np.float32)
    nx, ny, nz = np.ascontiguousarray(normals.T, np.float32)
    vx, vy, vz = cam[0] - px, cam[1] - py, cam[2] - pz
    inv_v = 1 / np.sqrt(vx * vx + vy * vy + vz * vz)
    vx, vy, vz = vx * inv_v, vy * inv_v, vz * inv_v
    ndv_raw = nx * vx + ny * vy + nz * vz
    ndv = np.clip(ndv_raw, 0.05, 1.0)
    alpha = np.clip(roughness, 0.02, 1.0)
    a2 = alpha * alpha
    k = alpha / 2
    col = (slice(None), None)  # per-LED scalars as (L, 1) columns against (m,) pixel rows
    dx, dy, dz = pos[:, 0][col] - px, pos[:, 1][col] - py, pos[:, 2][col] - pz  # (L, m)
    inv_d = 1 / np.sqrt(dx * dx + dy * dy + dz * dz)
    # Lambertian LED: intensity ~ cos of the angle off its axis
    emission = -(axes[:, 0][col] * dx + axes[:, 1][col] * dy + axes[:, 2][col] * dz) * inv_d
    np.maximum(emission, 0, out=emission)
    irradiance = emission * (inv_d * inv_d) * power
    ndl_raw = (nx * dx + ny * dy + nz * dz) * inv_d
    ndl = np.maximum(ndl_raw, 0)
    diffuse = np.einsum("lm,lm->m", irradiance, ndl)
    ldv = (vx * dx + vy * dy + vz * dz) * inv_d
    ndh = (ndl_raw + ndv_raw) / np.sqrt(np.maximum(2 + 2 * ldv, 1e-12))
    np.clip(ndh, 0, 1, out=ndh)
    denom = ndh * ndh * (a2 - 1) + 1
    g_light = ndl / (ndl * (1 - k) + k)
    specular = np.einsum("lm,lm->m", irradiance * g_light, 1 / (denom * denom))
    g_view = ndv / (ndv * (1 - k) + k)
    specular *= a2 / np.float32(np.pi) * g_view / (4 * ndv)
    return diffuse, specular


def channel_radiance(
    response: RingResponse,
    diffuse: np.ndarray,
    specular: np.ndarray,
    fluorescence: np.ndarray,
    cavity: np.ndarray | None = None,
    cavity_response: float = 1.0,
) -> np.ndarray:
    """Radiance (N,) towards the camera for one channel's per-pixel material (each (N,))."""
    out = (diffuse + fluorescence) * response.diffuse / np.float32(np.pi) + specular * response.specular
    if cavity is not None and cavity_response != 1.0:
        out *= 1 + cavity * np.float32(cavity_response - 1)
    return out
