"""Fixtures of the cell-logic tests (no ROS): a data root with a migrated SQLite database."""

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
