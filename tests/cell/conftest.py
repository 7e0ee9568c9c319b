"""Fixtures of the cell-logic tests (no ROS): a data root with a migrated SQLite database, the scan
poses of the tests' small part family, and simulated worlds closed after the test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh $BLADECELL_HOME whose SQLite database is migrated."""
    from database import migrate

    root = tmp_path / "home"
    root.mkdir()
    monkeypatch.setenv("BLADECELL_HOME", str(root))
    monkeypatch.delenv("BLADECELL_DATABASE_URL", raising=False)
    migrate.upgrade(f"sqlite:///{root / 'bladecell.sqlite3'}")
    return root


@pytest.fixture(scope="module")
def scan_axes():
    """Stage poses of `local_cell.FAMILY`'s scan, cut to 3 viewpoints (fast cycles)."""
    from local_cell import FAMILY

    from platform_control.params import load_camera_params, load_cell_layout, load_stage_params
    from platform_control.part_families import PartFamilyCatalog, load_part_families

    catalog = PartFamilyCatalog(
        load_part_families(f"families:\n  {FAMILY}: {{preset: small, seed: 3}}"),
        load_camera_params(),
        load_stage_params(),
        load_cell_layout(),
        max_viewpoints=3,
    )
    return catalog.scan_axes


@pytest.fixture
def worlds():
    """Collects the SimWorlds a test makes and closes them after it."""
    made = []
    yield made
    for world in made:
        world.close()
