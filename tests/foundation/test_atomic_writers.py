"""The three crash-safe writers behave alike: data fsynced, renamed into place, folder fsynced after
the rename (without the last step a power cut can lose the new name even though the data was synced)."""

from __future__ import annotations

from pathlib import Path

from durability import assert_durable_write, watch_durability


def test_autonad_core_writer_syncs_the_folder_after_the_rename(tmp_path: Path, monkeypatch) -> None:
    from autonad_core import atomic_io

    events = watch_durability(monkeypatch, atomic_io)
    target = tmp_path / "run" / "result.json"
    atomic_io.atomic_write_json(target, {"miou": 0.5})
    assert target.read_text().strip().startswith("{") and '"miou": 0.5' in target.read_text()
    assert_durable_write(events, target)


def test_platform_control_writer_syncs_the_folder_after_the_rename(tmp_path: Path, monkeypatch) -> None:
    from platform_control import atomic_io

    events = watch_durability(monkeypatch, atomic_io)
    target = tmp_path / "journal" / "cycle.json"
    atomic_io.atomic_write_text(target, "{}")
    assert target.read_text() == "{}"
    assert_durable_write(events, target)


def test_database_content_store_syncs_the_folder_after_the_rename(tmp_path: Path, monkeypatch) -> None:
    from database import storage

    events = watch_durability(monkeypatch, storage)
    stored = storage.ContentStore(tmp_path).put_bytes(b"\x89PNG bytes", ".png")
    target = tmp_path / stored.path
    assert target.read_bytes() == b"\x89PNG bytes"
    assert_durable_write(events, target)
