"""Reading dataset images (grey, RGB, N-channel; 8/16-bit) and class-index masks, with errors that
name the file.

Image entries (see FORMAT.md):
- a single file: `.png`, `.bmp`, `.jpg`/`.jpeg` (grey or RGB), or `.tif`/`.tiff` (one page per channel,
  or one page holding all channels);
- a directory `images/<stem>/` holding one single-channel PNG/TIFF per channel, named `<channel>.png`.
Colour files are returned in RGB order (OpenCV reads BGR; we convert so channel names mean what they say).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from autonad_core.data.spec import DatasetError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")
_TIFF = (".tif", ".tiff")


def _check_dtype(array: np.ndarray, path: Path) -> np.ndarray:
    if array.dtype not in (np.uint8, np.uint16):
        raise DatasetError(f"{path}: pixel type {array.dtype} not supported (8- or 16-bit integer only)")
    return array


def _read_file(path: Path) -> np.ndarray:
    """One image file -> (H, W, C) uint8/uint16."""
    if path.suffix.lower() in _TIFF:
        ok, pages = cv2.imreadmulti(str(path), flags=cv2.IMREAD_UNCHANGED)
        if not ok or not pages:
            raise DatasetError(f"{path}: cannot decode TIFF (corrupt or unsupported)")
        if len(pages) == 1:
            array = pages[0]
        else:
            shapes = {p.shape for p in pages}
            if len(shapes) != 1 or pages[0].ndim != 2:
                raise DatasetError(f"{path}: multi-page TIFF pages must be single-channel and equal size")
            array = np.stack(pages, axis=-1)
    else:
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if array is None:
            raise DatasetError(f"{path}: cannot decode image (corrupt, empty or unsupported format)")
        if array.ndim == 3 and array.shape[2] == 3:
            array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
        elif array.ndim == 3 and array.shape[2] == 4:
            raise DatasetError(
                f"{path}: 4-channel (alpha) PNG is ambiguous; store channels as a channel folder"
            )
    if array.ndim == 2:
        array = array[:, :, None]
    return _check_dtype(array, path)


def read_image(entry: Path, channels: tuple[str, ...]) -> np.ndarray:
    """Read one image entry (file or channel folder) as (H, W, len(channels)) uint8/uint16."""
    if entry.is_dir():
        planes = []
        for name in channels:
            candidates = [entry / f"{name}{suffix}" for suffix in (".png", ".tif", ".tiff")]
            found = [c for c in candidates if c.is_file()]
            if not found:
                raise DatasetError(f"{entry}: channel folder has no file for channel '{name}' ({name}.png)")
            plane = _read_file(found[0])
            if plane.shape[2] != 1:
                raise DatasetError(f"{found[0]}: channel file must be single-channel, has {plane.shape[2]}")
            planes.append(plane[:, :, 0])
        shapes = {p.shape for p in planes}
        if len(shapes) != 1:
            raise DatasetError(f"{entry}: channel files differ in size {sorted(shapes)}")
        dtypes = {p.dtype for p in planes}
        if len(dtypes) != 1:
            raise DatasetError(f"{entry}: channel files differ in bit depth {sorted(map(str, dtypes))}")
        return np.stack(planes, axis=-1)
    if not entry.is_file():
        raise DatasetError(f"{entry}: image not found")
    array = _read_file(entry)
    if array.shape[2] != len(channels):
        raise DatasetError(
            f"{entry}: has {array.shape[2]} channel(s) but dataset declares {len(channels)} {list(channels)}"
        )
    return array


def read_mask(path: Path) -> np.ndarray:
    """Read a class-index mask (8-bit grey or palette PNG) as (H, W) uint8."""
    if not path.is_file():
        raise DatasetError(f"{path}: mask not found")
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ("L", "P"):
                raise DatasetError(
                    f"{path}: mask must be a single-channel 8-bit index PNG (mode L or P), "
                    f"got mode {img.mode}"
                )
            return np.array(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DatasetError(f"{path}: cannot decode mask ({exc})") from exc


def bit_depth_of(array: np.ndarray) -> int:
    return 16 if array.dtype == np.uint16 else 8
