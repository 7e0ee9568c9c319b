"""Per-pixel surface appearance of the blade: intact coating with procedural texture, then defects.

Input: the blade-frame point and normal of every visible blade pixel. Output: per channel diffuse
albedo, specular reflectance and fluorescence yield, one roughness, the (perturbed) normal, a cavity
factor, and the class and instance label of every pixel. Shading (`shading.py`) turns this into
radiance; the labels are the frame's mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from platform_control.sim.defects import Defect, DefectsConfig
from platform_control.sim.optics import MaterialConfig, TextureConfig
from platform_control.sim.parallel import for_chunks


@dataclass
class PixelAppearance:
    """Shape: normals (N, 3); diffuse, specular, fluorescence (C, N); roughness, cavity, labels,
    instances (N,). `instances` is the defect's index in the blade's defect list, -1 for none."""

    channels: tuple[str, ...]
    normals: np.ndarray
    diffuse: np.ndarray
    specular: np.ndarray
    fluorescence: np.ndarray
    roughness: np.ndarray
    cavity: np.ndarray
    labels: np.ndarray
    instances: np.ndarray


def _wave_field(points: np.ndarray, rng: np.random.Generator, scale: float, count: int = 8) -> np.ndarray:
    """Smooth zero-mean noise of unit variance: a sum of random plane waves of wavelength ~ `scale`."""
    dirs = rng.normal(size=(count, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    freqs = (2 * np.pi / scale) * rng.uniform(0.5, 1.5, count)
    phases = rng.uniform(0, 2 * np.pi, count)
    waves = (dirs * freqs[:, None]).astype(np.float32)
    phases = phases.astype(np.float32)[:, None]
    out = np.empty(len(points), np.float32)

    def work(s: int, e: int) -> None:
        x, y, z = np.ascontiguousarray(points[s:e].T, np.float32)
        arg = waves[:, 0, None] * x + waves[:, 1, None] * y + waves[:, 2, None] * z + phases  # (count, m)
        out[s:e] = np.sin(arg).sum(axis=0)

    for_chunks(work, len(points), 16384)
    return out * np.float32(np.sqrt(2.0 / count))


def intact_appearance(
    points: np.ndarray,
    normals: np.ndarray,
    material: MaterialConfig,
    texture: TextureConfig,
    channels: Sequence[str],
    texture_seed: int,
) -> PixelAppearance:
    """The undamaged coating: albedo varies slowly; fine polishing marks tilt the normal along the span."""
    channels = tuple(channels)
    n = len(points)
    rng = np.random.default_rng(texture_seed)
    albedo = 1 + texture.albedo_variation * np.clip(_wave_field(points, rng, texture.albedo_scale), -2.5, 2.5)
    normals = normals.astype(np.float32, copy=True)
    if texture.grinding_amplitude > 0:
        # polishing marks run across the span: the normal rocks about the chord direction
        phase = _wave_field(points, rng, 40 * texture.grinding_period, 4)
        marks = np.sin(2 * np.pi * points[:, 2] / texture.grinding_period + 3.0 * phase).astype(np.float32)
        along = np.array([0, 0, 1], np.float32) - normals[:, 2:3] * normals
        normals += texture.grinding_amplitude * marks[:, None] * along
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    ones = np.ones(n, np.float32)
    return PixelAppearance(
        channels=channels,
        normals=normals,
        diffuse=material.vector("diffuse", channels)[:, None] * albedo[None].astype(np.float32),
        specular=material.vector("specular", channels)[:, None] * ones[None],
        fluorescence=material.vector("fluorescence", channels)[:, None] * albedo[None].astype(np.float32),
        roughness=np.full(n, material.roughness, np.float32),
        cavity=np.zeros(n, np.float32),
        labels=np.zeros(n, np.uint8),
        instances=np.full(n, -1, np.int16),
    )


def apply_defects(
    appearance: PixelAppearance,
    points: np.ndarray,
    defects: Sequence[Defect],
    config: DefectsConfig,
) -> PixelAppearance:
    """Blend every defect's class appearance into `appearance` (in place) and label its pixels.

    `points` are the pixels' blade-frame points; the defects test them against the geometric normals
    already in `appearance.normals` (texture tilts are far below the same-side threshold)."""
    geometric = appearance.normals.copy()
    for number, defect in enumerate(defects):
        eff = defect.effect(points, geometric)
        if eff is None:
            continue
        cls = config.of(defect.kind)
        idx = eff.idx
        w = eff.weight[None]
        mult = np.array([cls.diffuse[c] for c in appearance.channels], np.float32)[:, None]
        appearance.diffuse[:, idx] *= 1 + w * (mult - 1)
        appearance.specular[:, idx] *= 1 + w * (cls.specular - 1)
        appearance.fluorescence[:, idx] *= 1 + w * (cls.fluorescence - 1)
        appearance.roughness[idx] += eff.weight * (cls.roughness - appearance.roughness[idx])
        if eff.normal is not None:
            appearance.normals[idx[eff.label]] = eff.normal[eff.label]
        if eff.cavity is not None:
            appearance.cavity[idx] = np.maximum(appearance.cavity[idx], eff.cavity)
        if eff.cutout is not None:  # no material left: nothing reflects or fluoresces
            cut = idx[eff.cutout]
            appearance.diffuse[:, cut] = 0
            appearance.specular[:, cut] = 0
            appearance.fluorescence[:, cut] = 0
        hit = idx[eff.label]
        appearance.labels[hit] = config.index(defect.kind)
        appearance.instances[hit] = number
    return appearance
