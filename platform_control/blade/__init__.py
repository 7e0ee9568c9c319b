"""Blade geometry: parametric blades (airfoil + platform + root) and validated mesh loading."""

from platform_control.blade.generator import face_labels, generate_blade, label_mask, root_profile
from platform_control.blade.loader import BladeMeshError, load_blade_mesh, validate_blade_mesh
from platform_control.blade.spec import CLAMPED_LABELS, FACE_LABELS, PRESETS, BladeSpec, blade_preset

__all__ = [
    "CLAMPED_LABELS",
    "FACE_LABELS",
    "PRESETS",
    "BladeMeshError",
    "BladeSpec",
    "blade_preset",
    "face_labels",
    "generate_blade",
    "label_mask",
    "load_blade_mesh",
    "root_profile",
    "validate_blade_mesh",
]
