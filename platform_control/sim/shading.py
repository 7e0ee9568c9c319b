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


def ring_response(
    points: np.ndarray,
    normals: np.ndarray,
    camera_position: np.ndarray,
    roughness: np.ndarray,
    ring: LedRing,
) -> RingResponse:
    """Diffuse and specular response of points (N, 3) with unit normals (N, 3), world frame."""
    pts = points.astype(np.float32, copy=False)
    nrm = normals.astype(np.float32, copy=False)
    view = camera_position.astype(np.float32) - pts
    view /= np.linalg.norm(view, axis=1, keepdims=True)
    ndv = np.clip(np.einsum("ij,ij->i", nrm, view), 0.05, 1.0)
    alpha = np.clip(roughness.astype(np.float32), 0.02, 1.0)
    a2 = alpha * alpha
    k = alpha / 2
    g_view = ndv / (ndv * (1 - k) + k)
    diffuse = np.zeros(len(pts), np.float32)
    specular = np.zeros(len(pts), np.float32)
    for pos, axis in zip(ring.positions.astype(np.float32), ring.axes.astype(np.float32), strict=True):
        to_led = pos - pts
        dist2 = np.einsum("ij,ij->i", to_led, to_led)
        ldir = to_led / np.sqrt(dist2)[:, None]
        # Lambertian LED: intensity ~ cos of the angle off its axis
        emission = np.clip(-np.einsum("ij,j->i", ldir, axis), 0, None)
        irradiance = np.float32(ring.power) * emission / dist2
        ndl = np.clip(np.einsum("ij,ij->i", nrm, ldir), 0, None)
        lit = irradiance * ndl
        diffuse += lit
        half = ldir + view
        half /= np.linalg.norm(half, axis=1, keepdims=True)
        ndh = np.clip(np.einsum("ij,ij->i", nrm, half), 0, 1)
        denom = ndh * ndh * (a2 - 1) + 1
        dist_term = a2 / (np.pi * denom * denom)
        g_light = ndl / (ndl * (1 - k) + k)
        specular += irradiance * dist_term * g_light * g_view / (4 * ndv)
    return RingResponse(diffuse, specular)


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
