"""Watching a crash-safe writer: which files and folders it fsyncs, and when it renames.

The three writers (autonad_core, platform_control, database storage) cannot share code (the libraries
never import each other), so they share a behaviour, and each test checks it with this probe.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import ModuleType

import pytest


def watch_durability(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[tuple[str, object]]:
    """Record ("fsync-file"|"fsync-dir", inode) and ("replace", target) events of `module`'s os calls."""
    events: list[tuple[str, object]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        events.append(("fsync-dir" if stat.S_ISDIR(info.st_mode) else "fsync-file", info.st_ino))
        real_fsync(fd)

    def replace(src, dst) -> None:
        real_replace(src, dst)
        events.append(("replace", Path(dst)))

    monkeypatch.setattr(module.os, "fsync", fsync)
    monkeypatch.setattr(module.os, "replace", replace)
    return events


def assert_durable_write(events: list[tuple[str, object]], path: Path) -> None:
    """The data was fsynced before the rename, and the folder holding the new name after it."""
    kinds = [kind for kind, _ in events]
    assert "replace" in kinds, events
    renamed = kinds.index("replace")
    assert events[renamed][1] == path
    assert "fsync-file" in kinds[:renamed], f"data not fsynced before the rename: {events}"
    folder = path.parent.stat().st_ino
    assert ("fsync-dir", folder) in events[renamed + 1 :], f"folder not fsynced after the rename: {events}"
