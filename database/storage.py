"""Content-addressed image files under `$BLADECELL_HOME`: the database stores paths and hashes only.

A file's path is derived from the SHA-256 of its bytes (`files/ab/cd/<sha256><suffix>`), so writing the
same image twice stores it once, a retried write is harmless, and a hash in the database always names
exactly the bytes it was computed from. Writes go to a temporary file first (fsynced), are renamed into
place and the folder is fsynced, so a crash never leaves a half-written file under a valid name.

One file can be referenced by many rows (two annotations sharing a mask), and two writers of the same
bytes both see a file they "wrote": so no request ever deletes a stored file. Files left unreferenced
(an import whose transaction then failed) are removed only by `services.file_gc`, which checks the
database and spares files younger than a grace period (a write touches an existing file's mtime).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import BmpImagePlugin, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from .errors import InvalidInputError, StoredFileError

_SUFFIXES = {".png", ".tif", ".tiff", ".npy", ".pt", ".onnx", ".bin"}


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative to the store root, POSIX separators
    sha256: str
    size: int
    created: bool  # False when identical bytes were already stored


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ContentStore:
    """Files addressed by content hash below `root` (normally `$BLADECELL_HOME`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def put_bytes(self, data: bytes, suffix: str = ".png") -> StoredFile:
        if suffix not in _SUFFIXES:
            raise InvalidInputError("suffix", f"{suffix!r} is not one of {sorted(_SUFFIXES)}")
        digest = sha256_of(data)
        rel = self.path_for(digest, suffix)
        target = self.root / rel
        if target.exists():
            # Refresh the age the garbage collector reads: this write is about to be referenced.
            os.utime(target)
            return StoredFile(rel, digest, len(data), created=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_folder(target.parent)  # the new name survives a power cut too
        return StoredFile(rel, digest, len(data), created=True)

    @staticmethod
    def path_for(digest: str, suffix: str) -> str:
        """Relative path of the file with this SHA-256 and suffix."""
        return f"files/{digest[:2]}/{digest[2:4]}/{digest}{suffix}"

    def put_image(self, image: np.ndarray) -> StoredFile:
        """Store an image losslessly as PNG (8- or 16-bit, grey or colour)."""
        ok, encoded = cv2.imencode(".png", image)
        if not ok:
            raise InvalidInputError(
                "image", f"cannot encode array of shape {image.shape} dtype {image.dtype} as PNG"
            )
        return self.put_bytes(encoded.tobytes(), ".png")

    def resolve(self, rel_path: str) -> Path:
        """Absolute path of a stored file; refuses paths that would leave the store root.

        Stored paths come from the database, which only the server writes: one that leaves the root
        is a server-side fault (`StoredFileError`, HTTP 500). Messages name the relative path only;
        the API logs the data root beside them, so an answer never reveals the server's layout.
        """
        candidate = (self.root / rel_path).resolve()
        if not candidate.is_relative_to(self.root):  # the message shows no path: it is not ours
            raise StoredFileError("a stored file path recorded in the database points outside the data root")
        return candidate

    def read_bytes(self, rel_path: str, expected_sha256: str | None = None) -> bytes:
        """The stored bytes, verified against the hash the database recorded for them."""
        path = self.resolve(rel_path)
        if not path.is_file():
            raise StoredFileError(f"stored file {rel_path!r} is missing from the data root")
        data = path.read_bytes()
        if expected_sha256 is not None and sha256_of(data) != expected_sha256:
            raise StoredFileError(
                f"stored file {rel_path!r} does not match its recorded SHA-256 (changed on disk)"
            )
        return data

    def read_image(
        self, rel_path: str, expected_sha256: str | None = None, *, grey: bool = False
    ) -> np.ndarray:
        data = self.read_bytes(rel_path, expected_sha256)
        flags = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_UNCHANGED
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
        if image is None:
            raise StoredFileError(f"stored file {rel_path!r} is not a readable image")
        return image

    def stored_paths(self) -> Iterator[tuple[str, float]]:
        """(relative path, mtime) of every content-addressed file, for the garbage collector."""
        files = self.root / "files"
        if not files.is_dir():
            return
        for path in files.rglob("*"):
            if path.is_file():  # a crashed write's .incoming- file is unreferenced too
                yield path.relative_to(self.root).as_posix(), path.stat().st_mtime

    def remove_if_older(self, rel_path: str, cutoff: float) -> bool:
        """Delete a stored file unless it was written or re-written after `cutoff` (a POSIX time).

        Only the garbage collector calls this, for a file it found unreferenced in the database.
        """
        path = self.resolve(rel_path)
        try:
            if path.stat().st_mtime >= cutoff:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        return True


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable: the folder's entry for the new name is on disk too. The same behaviour
    as autonad_core's and platform_control's writers (the libraries never import each other)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def decode_upload(data: bytes, field: str, *, grey: bool, max_pixels: int) -> np.ndarray:
    """Decode uploaded image bytes, or raise a 422-style error naming the form field.

    The size is read from the header and checked against `max_pixels` before anything is decoded: a
    1 MB PNG can declare 20000x20000 pixels, 400 MB to decode. A file whose header is not PNG, TIFF,
    BMP or JPEG is refused, so nothing reaches the decoder unmeasured.
    """
    if not data:
        raise InvalidInputError(field, "the uploaded file is empty")
    width, height = _header_size(data, field)
    if width * height > max_pixels:
        raise InvalidInputError(
            field,
            f"{width}x{height} = {width * height:,} pixels exceed the limit of {max_pixels:,} pixels "
            "(BLADECELL_MAX_IMAGE_PIXELS)",
        )
    image = cv2.imdecode(
        np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_UNCHANGED
    )
    if image is None:
        raise InvalidInputError(field, UNREADABLE)
    return image


UNREADABLE = "not a readable image (PNG, TIFF, BMP or JPEG expected)"


def _header_size(data: bytes, field: str) -> tuple[int, int]:
    """(width, height) from the image header alone: each Pillow reader parses only the header when
    constructed. Called directly rather than through `Image.open`, whose own bomb guard (a global,
    89 MP by default) would answer first without the size; our limit is the stricter one."""
    for reader in _HEADER_READERS:
        try:
            with reader(io.BytesIO(data)) as header:
                width, height = header.size
        except Exception:  # any failure to parse a header means "not this format"
            continue
        if width > 0 and height > 0:
            return width, height
    raise InvalidInputError(field, UNREADABLE)


_HEADER_READERS = (
    PngImagePlugin.PngImageFile,
    TiffImagePlugin.TiffImageFile,
    BmpImagePlugin.BmpImageFile,
    JpegImagePlugin.JpegImageFile,
)
