"""Parameters of a generated blade and the small / medium / large presets.

A blade here is a compressor/turbine-style part: a NACA-section airfoil (chord, camber and thickness
tapering, sections twisted along the span) on a rectangular platform, on a dovetail (one lobe) or
fir-tree (several lobes) root. Blade frame: root bottom at z = 0, span along +z, the root extruded
along x (axial), its lobes on the +-y (circumferential) flanks.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

FaceLabel = Literal[
    "airfoil", "tip", "platform_top", "platform_side", "platform_underside", "root", "surface"
]
FACE_LABELS: tuple[str, ...] = (
    "airfoil",
    "tip",
    "platform_top",
    "platform_side",
    "platform_underside",
    "root",
    "surface",  # loaded meshes without a model of their parts
)
# The fixture grips the root's flanks and seats the platform underside on its locating pads (the
# blade's datum faces), so both face the fixture and the C table and cannot be inspected in this set-up.
CLAMPED_LABELS: tuple[str, ...] = ("root", "platform_underside")


class BladeSpec(BaseModel):
    """Geometry of a parametric blade. Lengths in metres, angles in degrees, ratios as fractions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    span: float = Field(gt=0, description="airfoil height above the platform")
    root_chord: float = Field(gt=0)
    tip_chord: float = Field(gt=0)
    max_camber: float = Field(ge=0, lt=0.15, description="NACA m, fraction of chord")
    camber_position: float = Field(gt=0.1, lt=0.9, description="NACA p, fraction of chord")
    root_thickness: float = Field(gt=0.02, lt=0.3, description="max thickness / chord at the root")
    tip_thickness: float = Field(gt=0.02, lt=0.3, description="max thickness / chord at the tip")
    stagger_deg: float = Field(ge=-80, le=80, description="chord angle to the x axis at the root")
    twist_deg: float = Field(ge=-80, le=80, description="extra section rotation from root to tip")
    platform_length: float = Field(gt=0, description="along x (axial)")
    platform_width: float = Field(gt=0, description="along y (circumferential)")
    platform_thickness: float = Field(gt=0)
    root_height: float = Field(gt=0, description="dovetail / fir-tree height below the platform")
    root_width: float = Field(gt=0, description="widest lobe, along y")
    root_lobes: int = Field(ge=1, le=5, description="1 = dovetail, 2.. = fir-tree")
    points_per_side: int = Field(default=48, ge=8, le=400, description="airfoil outline points per side")
    section_spacing: float = Field(default=0.004, gt=0, description="distance between airfoil sections")
    scatter: float = Field(default=0.01, ge=0, lt=0.1, description="seeded relative part-to-part variation")

    @model_validator(mode="after")
    def _fits_platform(self) -> BladeSpec:
        half_x, half_y = self.root_section_half_extent()
        if half_x > 0.5 * self.platform_length or half_y > 0.5 * self.platform_width:
            raise ValueError(
                f"blade '{self.name}': root airfoil section ({2 * half_x:.4f} x {2 * half_y:.4f} m) overhangs"
                f" "
                f"the platform ({self.platform_length} x {self.platform_width} m); enlarge platform_length/"
                "platform_width or reduce root_chord/stagger_deg"
            )
        if self.root_width >= self.platform_width:
            raise ValueError(
                f"blade '{self.name}': root_width {self.root_width} must be below platform_width "
                f"{self.platform_width}"
            )
        return self

    def root_section_half_extent(self) -> tuple[float, float]:
        """Conservative half extents (x, y) of the root section (chord line +- thickness)."""
        a = np.deg2rad(self.stagger_deg)
        half_t = 0.5 * (self.root_thickness + 2 * self.max_camber) * self.root_chord
        return (
            0.5 * self.root_chord * abs(np.cos(a)) + half_t,
            0.5 * self.root_chord * abs(np.sin(a)) + half_t,
        )

    @property
    def platform_top(self) -> float:
        """z of the platform's upper face (where the airfoil starts)."""
        return self.root_height + self.platform_thickness

    @property
    def tip_z(self) -> float:
        return self.platform_top + self.span

    @property
    def height(self) -> float:
        """Overall height of the part, root bottom to tip."""
        return self.tip_z


PRESETS: dict[str, BladeSpec] = {
    "small": BladeSpec(
        name="small",
        span=0.060,
        root_chord=0.030,
        tip_chord=0.024,
        max_camber=0.05,
        camber_position=0.4,
        root_thickness=0.10,
        tip_thickness=0.07,
        stagger_deg=30,
        twist_deg=20,
        platform_length=0.044,
        platform_width=0.030,
        platform_thickness=0.004,
        root_height=0.014,
        root_width=0.016,
        root_lobes=1,
        section_spacing=0.003,
    ),
    "medium": BladeSpec(
        name="medium",
        span=0.120,
        root_chord=0.050,
        tip_chord=0.038,
        max_camber=0.055,
        camber_position=0.4,
        root_thickness=0.09,
        tip_thickness=0.06,
        stagger_deg=35,
        twist_deg=28,
        platform_length=0.070,
        platform_width=0.046,
        platform_thickness=0.005,
        root_height=0.024,
        root_width=0.026,
        root_lobes=2,
        section_spacing=0.004,
    ),
    "large": BladeSpec(
        name="large",
        span=0.220,
        root_chord=0.080,
        tip_chord=0.056,
        max_camber=0.06,
        camber_position=0.4,
        root_thickness=0.08,
        tip_thickness=0.05,
        stagger_deg=40,
        twist_deg=35,
        platform_length=0.110,
        platform_width=0.075,
        platform_thickness=0.006,
        root_height=0.034,
        root_width=0.038,
        root_lobes=3,
        section_spacing=0.005,
    ),
}


def blade_preset(name: str) -> BladeSpec:
    """One of the named presets ('small', 'medium', 'large')."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown blade preset '{name}'; choose one of {sorted(PRESETS)}") from None
