"""Synthetic blade defects with exact ground truth: crack, nick, dent, pitting, coating loss, burn.

A defect lives on the blade surface in the blade frame: an anchor point, the surface normal there and a
tangent frame, plus a class-specific shape (crack polyline, notch sphere, dent profile, pit field, blob
outline). The renderer asks each defect, for every visible blade pixel (its blade-frame point and
normal), whether the pixel belongs to the defect and how it changes the surface there (material blend
weight, perturbed normal, cavity). Label and appearance come from the same per-pixel test, so a frame's
mask is pixel-exact by construction. Appearance per light channel comes from `config/defects.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.spatial import cKDTree

from platform_control.params import load_yaml_model

DEFECTS_PATH = Path(__file__).resolve().parent / "config" / "defects.yaml"
MM = 1e-3


class DefectClassConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: str
    size: dict[str, tuple[float, float]]
    diffuse: dict[str, float]
    specular: float = Field(gt=0)
    fluorescence: float = Field(ge=0)
    roughness: float = Field(gt=0, le=1)


class DefectsConfig(BaseModel):
    """Mask class order and per-class appearance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    classes: tuple[str, ...]
    cavity_response: dict[str, float]
    crack: DefectClassConfig
    nick: DefectClassConfig
    dent: DefectClassConfig
    pitting: DefectClassConfig
    coating_loss: DefectClassConfig
    burn: DefectClassConfig

    @model_validator(mode="after")
    def _classes(self) -> DefectsConfig:
        expected = {"crack", "nick", "dent", "pitting", "coating_loss", "burn"}
        if self.classes[0] != "background" or set(self.classes[1:]) != expected:
            raise ValueError(
                f"classes must be 'background' followed by {sorted(expected)}, got {list(self.classes)}"
            )
        return self

    def of(self, kind: str) -> DefectClassConfig:
        if kind not in self.classes[1:]:
            raise ValueError(f"unknown defect class '{kind}' (known: {list(self.classes[1:])})")
        return getattr(self, kind)

    def index(self, kind: str) -> int:
        self.of(kind)
        return self.classes.index(kind)


def load_defects_config(path: Path | None = None) -> DefectsConfig:
    return load_yaml_model(DefectsConfig, path or DEFECTS_PATH, "defects file")


@dataclass(frozen=True)
class SurfaceFrame:
    """Anchor of a defect: point, outward unit normal and tangents (blade frame)."""

    center: np.ndarray
    normal: np.ndarray
    t1: np.ndarray
    t2: np.ndarray

    @classmethod
    def at(cls, center: np.ndarray, normal: np.ndarray, rng: np.random.Generator) -> SurfaceFrame:
        n = np.asarray(normal, float) / np.linalg.norm(normal)
        helper = np.array([0.0, 0.0, 1.0]) if abs(n[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        t1 = np.cross(helper, n)
        t1 /= np.linalg.norm(t1)
        angle = rng.uniform(0, 2 * np.pi)
        t2 = np.cross(n, t1)
        t1, t2 = np.cos(angle) * t1 + np.sin(angle) * t2, -np.sin(angle) * t1 + np.cos(angle) * t2
        return cls(np.asarray(center, float), n, t1, t2)


@dataclass
class DefectEffect:
    """What a defect does to the pixels `idx` (indices into the frame's blade pixels)."""

    idx: np.ndarray
    label: np.ndarray  # (M,) bool: the pixel belongs to the defect (mask)
    weight: np.ndarray  # (M,) material blend towards the defect's appearance, 0..1
    normal: np.ndarray | None = None  # (M, 3) perturbed normal (blade frame)
    cavity: np.ndarray | None = None  # (M,) 0..1, pixel inside a pit
    cutout: np.ndarray | None = None  # (M,) bool, material removed: the camera sees through (dark)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _blob_radius(theta: np.ndarray, radius: float, harmonics: np.ndarray) -> np.ndarray:
    """Irregular outline r(theta) = R (1 + sum a_k cos(k theta + phi_k)); harmonics rows (k, a, phi)."""
    r = np.ones_like(theta)
    for k, a, phi in harmonics:
        r += a * np.cos(k * theta + phi)
    return radius * r


def _harmonics(rng: np.random.Generator, kmax: int, roughness: float) -> np.ndarray:
    ks = np.arange(2, kmax + 1)
    amps = roughness * rng.uniform(0.3, 1.0, len(ks)) / ks
    return np.column_stack([ks, amps, rng.uniform(0, 2 * np.pi, len(ks))])


@dataclass
class Defect:
    """Base: anchor frame, bounding radius, and the per-pixel evaluation in local coordinates."""

    kind: ClassVar[str] = ""
    frame: SurfaceFrame
    bound: float
    params: dict[str, Any] = field(default_factory=dict)
    same_side_only: ClassVar[bool] = True

    def effect(self, points: np.ndarray, normals: np.ndarray) -> DefectEffect | None:
        d = points - self.frame.center
        near = np.einsum("ij,ij->i", d, d) < self.bound * self.bound
        if self.same_side_only:
            near &= np.einsum("ij,j->i", normals, self.frame.normal) > 0.2
        idx = np.flatnonzero(near)
        if idx.size == 0:
            return None
        dl = d[idx]
        u, v, w = (
            np.einsum("ij,j->i", dl, axis) for axis in (self.frame.t1, self.frame.t2, self.frame.normal)
        )
        eff = self._evaluate(u, v, w, normals[idx], points[idx])
        if eff is None or not eff.label.any():
            return None
        eff.idx = idx
        return eff

    def _evaluate(self, u, v, w, n, p) -> DefectEffect | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _tangent(self, du: np.ndarray, dv: np.ndarray) -> np.ndarray:
        return du[:, None] * self.frame.t1 + dv[:, None] * self.frame.t2

    def to_json(self) -> dict[str, Any]:
        def plain(x):
            if isinstance(x, np.ndarray):
                return np.round(x, 7).tolist()
            if isinstance(x, list | tuple):
                return [plain(i) for i in x]
            if isinstance(x, float | np.floating):
                return round(float(x), 7)
            if isinstance(x, np.integer):
                return int(x)
            return x

        return {
            "class": self.kind,
            "center_m": plain(self.frame.center),
            "normal": plain(self.frame.normal),
            "bound_m": plain(self.bound),
            **{k: plain(v) for k, v in self.params.items()},
        }


@dataclass
class Crack(Defect):
    kind: ClassVar[str] = "crack"
    polylines: list[np.ndarray] = field(default_factory=list)  # each (K, 2) in (u, v), metres
    width: float = 0.0
    slope: float = 2.5

    def _evaluate(self, u, v, w, n, p):
        q = np.column_stack([u, v])
        best_d = np.full(len(q), np.inf)
        best_vec = np.zeros_like(q)
        best_half = np.zeros(len(q))
        for line in self.polylines:
            a, b = line[:-1], line[1:]
            seg = b - a
            seg_len = np.linalg.norm(seg, axis=1)
            cum = np.concatenate([[0.0], np.cumsum(seg_len)])
            total = cum[-1]
            rel = q[:, None, :] - a[None]
            t = np.clip(np.einsum("mkj,kj->mk", rel, seg) / np.maximum(seg_len**2, 1e-18), 0, 1)
            closest = a[None] + t[..., None] * seg[None]
            diff = q[:, None, :] - closest
            dist = np.linalg.norm(diff, axis=2)
            k = np.argmin(dist, axis=1)
            rows = np.arange(len(q))
            d = dist[rows, k]
            s = (cum[k] + t[rows, k] * seg_len[k]) / total
            half = 0.5 * self.width * np.sqrt(np.clip(1 - (2 * s - 1) ** 6, 0, 1))
            better = d < best_d
            best_d[better], best_half[better] = d[better], half[better]
            best_vec[better] = diff[rows, k][better]
        label = best_d < best_half
        away = _unit(self._tangent(best_vec[:, 0], best_vec[:, 1]))
        normal = np.where(label[:, None], _unit(n - self.slope * away), n)
        return DefectEffect(np.empty(0, int), label, label.astype(np.float32), normal)


@dataclass
class Nick(Defect):
    """A spherical notch cut into an edge; `frame.normal` points out of the edge.

    The thin edge is cut through: inside 85 % of the notch radius the camera looks through the missing
    material (dark background); the outer band is the fresh, shiny fracture face of the notch."""

    kind: ClassVar[str] = "nick"
    same_side_only: ClassVar[bool] = False
    radius: float = 0.0

    def _evaluate(self, u, v, w, n, p):
        centre = self.frame.center + 0.35 * self.radius * self.frame.normal
        to_c = centre - p
        dist = np.linalg.norm(to_c, axis=1)
        label = dist < self.radius
        normal = np.where(label[:, None], _unit(0.3 * n + _unit(to_c)), n)
        cutout = dist < 0.85 * self.radius
        return DefectEffect(np.empty(0, int), label, label.astype(np.float32), normal, cutout=cutout)


@dataclass
class Dent(Defect):
    kind: ClassVar[str] = "dent"
    radius: float = 0.0
    depth: float = 0.0

    def _evaluate(self, u, v, w, n, p):
        r = np.hypot(u, v)
        label = r < self.radius
        x = np.clip(r / self.radius, 0, 1)
        dh_dr = 2 * self.depth * x / self.radius  # spherical-cap (parabolic) crater: steepest at its rim
        radial = _unit(self._tangent(u, v))
        normal = np.where(label[:, None], _unit(n - dh_dr[:, None] * radial), n)
        return DefectEffect(np.empty(0, int), label, label.astype(np.float32), normal)


@dataclass
class Blob(Defect):
    """Irregular outline in the tangent plane; base of pitting, coating loss and burn."""

    radius: float = 0.0
    harmonics: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    def _outline(self, u, v) -> tuple[np.ndarray, np.ndarray]:
        return np.hypot(u, v), _blob_radius(np.arctan2(v, u), self.radius, self.harmonics)


@dataclass
class Pitting(Blob):
    kind: ClassVar[str] = "pitting"
    pits: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # rows (u, v, radius)

    def _evaluate(self, u, v, w, n, p):
        r, edge = self._outline(u, v)
        label = r < edge
        cavity = np.zeros(len(u), np.float32)
        normal = n.copy()
        if len(self.pits):
            tree = cKDTree(self.pits[:, :2])
            d, k = tree.query(np.column_stack([u, v]))
            rho = self.pits[k, 2]
            inside = label & (d < rho)
            x = np.clip(d / rho, 0, 1)
            cavity[inside] = (1 - x[inside] ** 2).astype(np.float32)
            toward = _unit(self._tangent(self.pits[k, 0] - u, self.pits[k, 1] - v))
            normal[inside] = _unit(n[inside] + 1.5 * x[inside, None] * toward[inside])
        # the stain fades in over the outer 15 % of the outline
        weight = np.clip((edge - r) / (0.15 * edge), 0, 1).astype(np.float32) * label
        return DefectEffect(np.empty(0, int), label, np.maximum(weight, 0.6 * label), normal, cavity)


@dataclass
class CoatingLoss(Blob):
    kind: ClassVar[str] = "coating_loss"
    rim: float = 0.0

    def _evaluate(self, u, v, w, n, p):
        r, edge = self._outline(u, v)
        label = r < edge
        rim = label & (r > edge - self.rim)
        radial = _unit(self._tangent(u, v))
        normal = np.where(rim[:, None], _unit(n - 1.2 * radial), n)  # the coating's step faces inwards
        return DefectEffect(np.empty(0, int), label, label.astype(np.float32), normal)


@dataclass
class Burn(Blob):
    """Heat tint fading outwards; the mask is where the tint reaches half strength."""

    kind: ClassVar[str] = "burn"

    def _evaluate(self, u, v, w, n, p):
        r, edge = self._outline(u, v)
        x = np.clip((r / edge - 0.6) / (1.4 - 0.6), 0, 1)
        strength = 1 - x * x * (3 - 2 * x)
        label = strength > 0.5
        return DefectEffect(np.empty(0, int), label, strength.astype(np.float32))


DEFECT_TYPES: dict[str, type[Defect]] = {t.kind: t for t in (Crack, Nick, Dent, Pitting, CoatingLoss, Burn)}


def _crack_polyline(rng: np.random.Generator, length: float, step: float) -> np.ndarray:
    n = max(int(length / step), 4)
    angle = rng.uniform(0, 2 * np.pi)
    turns = np.cumsum(rng.normal(0, 0.25, n))
    dirs = np.column_stack([np.cos(angle + turns), np.sin(angle + turns)])
    pts = np.vstack([[0.0, 0.0], np.cumsum(dirs * (length / n), axis=0)])
    return pts - pts[len(pts) // 2]


def make_defect(kind: str, frame: SurfaceFrame, config: DefectsConfig, rng: np.random.Generator) -> Defect:
    """A random defect of class `kind` anchored at `frame`, sized from the config's ranges."""
    size = config.of(kind).size

    def draw(name: str) -> float:
        lo, hi = size[name]
        return float(rng.uniform(lo, hi))

    if kind == "crack":
        length, width = draw("length_mm") * MM, draw("width_mm") * MM
        main = _crack_polyline(rng, length, 0.4 * MM)
        lines = [main]
        if rng.random() < 0.4:
            start = main[rng.integers(len(main) // 4, 3 * len(main) // 4)]
            branch = _crack_polyline(rng, 0.4 * length, 0.4 * MM)
            lines.append(branch - branch[0] + start)
        bound = max(np.max(np.linalg.norm(line, axis=1)) for line in lines) + width
        params = {"length_m": length, "width_m": width, "polylines_uv_m": lines}
        return Crack(frame, bound, params, lines, width, draw("wall_slope"))
    if kind == "nick":
        radius = draw("radius_mm") * MM
        return Nick(frame, 1.5 * radius, {"radius_m": radius}, radius)
    if kind == "dent":
        radius = draw("radius_mm") * MM
        depth = draw("depth_to_radius") * radius
        return Dent(frame, radius * 1.05, {"radius_m": radius, "depth_m": depth}, radius, depth)
    radius = draw("radius_mm") * MM
    harm = _harmonics(rng, 9 if kind == "coating_loss" else 6, 0.5 if kind == "coating_loss" else 0.3)
    bound = radius * (1 + np.abs(harm[:, 1]).sum()) * (1.45 if kind == "burn" else 1.02)
    params = {"radius_m": radius}
    if kind == "pitting":
        density = draw("pits_per_mm2")
        count = max(int(density * np.pi * (radius / MM) ** 2), 5)
        rr = radius * np.sqrt(rng.uniform(0, 1, count))
        th = rng.uniform(0, 2 * np.pi, count)
        lo, hi = size["pit_radius_mm"]
        pits = np.column_stack([rr * np.cos(th), rr * np.sin(th), rng.uniform(lo, hi, count) * MM])
        params["pit_count"] = count
        return Pitting(frame, bound, params, radius, harm, pits)
    if kind == "coating_loss":
        rim = draw("rim_mm") * MM
        return CoatingLoss(frame, bound, params, radius, harm, rim)
    if kind == "burn":
        return Burn(frame, bound, params, radius, harm)
    raise ValueError(f"unknown defect class '{kind}'")
