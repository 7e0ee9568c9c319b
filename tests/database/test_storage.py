"""Content-addressed files and overlay rendering (no database needed)."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from database.errors import InvalidInputError, StoredFileError
from database.overlay import render_overlay
from database.settings import DatabaseSettings, load_settings
from database.storage import ContentStore


def test_same_bytes_are_stored_once_under_their_hash(tmp_path) -> None:
    store = ContentStore(tmp_path)
    image = np.arange(64 * 48, dtype=np.uint16).reshape(48, 64)
    first = store.put_image(image)
    second = store.put_image(image.copy())
    assert first.created and not second.created and first.path == second.path
    data = (tmp_path / first.path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == first.sha256 and first.path.endswith(f"{first.sha256}.png")
    back = store.read_image(first.path, first.sha256)
    assert back.dtype == np.uint16 and np.array_equal(back, image)  # lossless, 16-bit kept
    assert not list(tmp_path.rglob(".incoming-*"))  # no temporary files left behind


def test_rewriting_an_old_file_protects_it_from_the_collector(tmp_path) -> None:
    """A writer that finds its bytes already stored renews their age, so `remove_if_older` (the
    garbage collector's delete) spares a file that is about to be referenced again."""
    import os
    import time

    store = ContentStore(tmp_path)
    stored = store.put_bytes(b"old bytes", ".bin")
    path = tmp_path / stored.path
    os.utime(path, (time.time() - 7200, time.time() - 7200))
    cutoff = time.time() - 3600
    assert not store.put_bytes(b"old bytes", ".bin").created
    assert path.stat().st_mtime > cutoff
    assert store.remove_if_older(stored.path, cutoff) is False and path.exists()
    os.utime(path, (time.time() - 7200, time.time() - 7200))
    assert [p for p, _ in store.stored_paths()] == [stored.path]
    assert store.remove_if_older(stored.path, cutoff) is True and not path.exists()
    assert store.remove_if_older(stored.path, cutoff) is False  # already gone: no error


def test_reads_are_verified_and_confined_to_the_root(tmp_path) -> None:
    store = ContentStore(tmp_path / "home")
    stored = store.put_bytes(b"\x89PNG fake", ".png")
    with pytest.raises(StoredFileError, match=r"outside the data root$"):  # a server-side fault
        store.resolve("../../etc/passwd")
    with pytest.raises(StoredFileError, match="missing"):
        store.read_bytes("files/00/00/nothing.png")
    (tmp_path / "home" / stored.path).write_bytes(b"tampered")
    with pytest.raises(StoredFileError, match="does not match its recorded SHA-256"):
        store.read_bytes(stored.path, stored.sha256)
    with pytest.raises(InvalidInputError, match="suffix"):
        store.put_bytes(b"x", ".exe")


def test_overlay_marks_the_defect_and_tints_the_mask() -> None:
    frame = np.full((100, 200), 128, np.uint8)
    mask = np.zeros((100, 200), np.uint8)
    mask[40:60, 150:190] = 2
    png = render_overlay(
        frame, mask, [[150, 40], [189, 40], [189, 59], [150, 59]], (150, 40, 40, 20), "pit 0.9"
    )
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (400, 800, 3)  # enlarged so the short side reaches 320 px
    inside = image[200:220, 640:720].reshape(-1, 3).mean(axis=0)
    outside = image[20:40, 20:60].reshape(-1, 3).mean(axis=0)
    assert np.allclose(outside, 128, atol=1)  # untouched grey
    assert inside[1] > inside[0] + 20  # class 2 is tinted green
    red = (image[..., 2] > 200) & (image[..., 1] < 60) & (image[..., 0] < 60)
    ys, xs = np.nonzero(red)
    assert xs.min() >= 590 and ys.min() >= 150  # the contour sits on the defect, not elsewhere
    with pytest.raises(ValueError, match="differs from frame shape"):
        render_overlay(frame, mask[:50], [], (0, 0, 1, 1), "x")


def test_settings_default_to_sqlite_under_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BLADECELL_HOME", str(tmp_path))
    monkeypatch.delenv("BLADECELL_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.url == f"sqlite:///{tmp_path / 'bladecell.sqlite3'}"
    assert settings.files_root == tmp_path / "files"
    monkeypatch.setenv("BLADECELL_DATABASE_URL", "postgresql://db.plant/records")
    assert load_settings().url == "postgresql://db.plant/records"
    with pytest.raises(ValueError, match="max_upload_bytes"):
        DatabaseSettings(max_upload_bytes=0)
