"""Part family -> blade geometry -> scan plan (the stage poses the coordinator visits).

A plant configures each part family with its blade CAD mesh; the simulated cell generates the blade
of a family from a preset and a seed (the same numbers the simulator's world uses, so plan and world
agree). Families not listed fall back to `default` (simulation only; a plant leaves it out and gets a
clear error). Plans are cached per family (planning a blade takes about a second). The detector uses
the same models as surfaces (`BladeSurfaces`) to size defects on tilted surfaces.

A family entry may also say `like: OTHER`: the model the cell designs for it (its first; a forced
redesign too) is OTHER's deployed network fine-tuned on this family's captures instead of an AutoNAD
search (the model designer reads it; `ModelDesigner`). OTHER need not be configured in this cell,
only have a deployed model in the registry the cells share.

YAML (the `part_families_yaml` parameter the coordinator, detector and model designer read):
    default: {preset: small, seed: 3}
    families:
      HPT-1: {mesh: /plant/cad/hpt1_blade.stl}
      HPT-2: {mesh: /plant/cad/hpt2_blade.stl, like: HPT-1}
      SIM-SMALL: {preset: small, seed: 3}
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import trimesh
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from platform_control.blade import blade_preset, generate_blade, load_blade_mesh
from platform_control.coverage import CoveragePlanner
from platform_control.defect_regions import MeshSurface
from platform_control.params import CameraParams, CellLayout, StageParams
from platform_control.stage import StageKinematics


class BladeModel(BaseModel):
    """Where a family's blade geometry comes from: a mesh file, or a generator preset + seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mesh: Path | None = None
    preset: str | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _one_source(self) -> BladeModel:
        if (self.mesh is None) == (self.preset is None):
            raise ValueError("give exactly one of 'mesh' (a CAD file) or 'preset' (generated blade)")
        return self

    def load(self) -> trimesh.Trimesh:
        if self.mesh is not None:
            return load_blade_mesh(self.mesh)
        return generate_blade(blade_preset(self.preset), seed=self.seed)


class PartFamilyEntry(BladeModel):
    """A configured family: its blade model and, optionally, the family whose architecture it reuses."""

    like: str | None = Field(default=None, min_length=1, max_length=64)
    """Design this family's model from this family's deployed architecture instead of searching."""


class PartFamilyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: BladeModel | None = None
    families: dict[str, PartFamilyEntry] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _not_like_itself(self) -> PartFamilyConfig:
        for name, family in self.families.items():
            if family.like == name:
                raise ValueError(f"families.{name}.like: a family cannot be like itself ({name!r})")
        return self

    def likes(self) -> dict[str, str]:
        """Family -> the family whose architecture its designs reuse (only families that say `like`)."""
        return {name: f.like for name, f in self.families.items() if f.like is not None}


class UnknownPartFamilyError(KeyError):
    """A part family with no blade model configured (and no default)."""

    def __str__(self) -> str:
        return str(self.args[0])


def load_part_families(text: str, source: str = "part_families_yaml") -> PartFamilyConfig:
    """Parse the YAML text; errors name `source` and the field."""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
        return PartFamilyConfig.model_validate(data or {})
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise ValueError(f"{source}: {exc}") from exc


class PartFamilyCatalog:
    """Blade models and cached scan plans of the part families."""

    def __init__(
        self,
        config: PartFamilyConfig,
        camera: CameraParams,
        stage: StageParams,
        layout: CellLayout,
        *,
        max_viewpoints: int = 0,
    ) -> None:
        self.config = config
        self.kinematics = StageKinematics(stage, layout, camera)
        self.camera = camera
        self.max_viewpoints = max_viewpoints
        self._plans: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def blade_model(self, family: str) -> BladeModel:
        model = self.config.families.get(family, self.config.default)
        if model is None:
            raise UnknownPartFamilyError(
                f"part family {family!r} has no blade model; configured: {sorted(self.config.families)}"
            )
        return model

    def scan_axes(self, family: str) -> np.ndarray:
        """(N, 5) stage poses of the family's scan, in visiting order (subsampled to max_viewpoints)."""
        with self._lock:
            if family not in self._plans:
                mesh = self.blade_model(family).load()
                plan = CoveragePlanner(self.camera, self.kinematics).plan(mesh)
                axes = plan.axes
                if 0 < self.max_viewpoints < len(axes):
                    keep = np.unique(np.linspace(0, len(axes) - 1, self.max_viewpoints).round().astype(int))
                    axes = axes[keep]
                self._plans[family] = axes
            return self._plans[family].copy()


class BladeSurfaces:
    """Part family -> its blade model as a ray-castable surface (`MeshSurface`), loaded once per family;
    None for a family without a blade model (the detector then sizes defects on the focus plane)."""

    def __init__(self, config: PartFamilyConfig) -> None:
        self.config = config
        self._surfaces: dict[str, MeshSurface | None] = {}
        self._lock = threading.Lock()

    def __call__(self, family: str) -> MeshSurface | None:
        with self._lock:
            if family not in self._surfaces:
                model = self.config.families.get(family, self.config.default)
                self._surfaces[family] = None if model is None else MeshSurface(model.load())
            return self._surfaces[family]
