"""Fixtures of the simulator tests: a generated blade with one defect of every class, and a small
rendering cell (256 x 256 frames keep the tests fast; the optics are otherwise the real ones)."""

from __future__ import annotations

import numpy as np
import pytest

import platform_control.sim  # noqa: F401  (selects the EGL back-end before mujoco is imported)
from platform_control.blade import blade_preset, generate_blade, label_mask
from platform_control.sim.defects import DefectsConfig, load_defects_config
from platform_control.sim.placement import BladeSurface, sample_defects
from platform_control.sim.render import SimBlade

ALL_CLASSES = load_defects_config().classes[1:]


@pytest.fixture(scope="session")
def defects_config() -> DefectsConfig:
    return load_defects_config()


@pytest.fixture(scope="session")
def small_blade_mesh():
    return generate_blade(blade_preset("small"), seed=3)


@pytest.fixture(scope="session")
def defective_blade(small_blade_mesh) -> SimBlade:
    """The small blade with one defect of each class (seeded), on its airfoil."""
    surface = BladeSurface(small_blade_mesh, label_mask(small_blade_mesh, ["airfoil"]))
    defects = sample_defects(surface, np.random.default_rng(11), count=len(ALL_CLASSES), classes=ALL_CLASSES)
    return SimBlade(small_blade_mesh, defects, texture_seed=5)
