"""Contact sheets of simulated captures: every channel plus the class mask over the white frame, so a
person can check at a glance that defects look plausible and that masks sit on them."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# BGR colour of each class index (background black), then cycling for more classes.
CLASS_COLOURS = np.array(
    [[0, 0, 0], [40, 40, 255], [0, 220, 255], [255, 80, 0], [0, 200, 0], [255, 0, 255], [0, 140, 255]],
    np.uint8,
)


def _to8(frame: np.ndarray) -> np.ndarray:
    return (frame >> 8).astype(np.uint8) if frame.dtype == np.uint16 else frame.astype(np.uint8)


def mask_overlay(frame: np.ndarray, mask: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """BGR image: `frame` (H, W) grey with each class coloured in."""
    out = cv2.cvtColor(_to8(frame), cv2.COLOR_GRAY2BGR)
    hit = mask > 0
    colours = CLASS_COLOURS[mask[hit] % len(CLASS_COLOURS)].astype(np.float32)
    out[hit] = ((1 - alpha) * out[hit] + alpha * colours).astype(np.uint8)
    return out


def contact_sheet(
    frames: np.ndarray,
    channels: Sequence[str],
    mask: np.ndarray,
    classes: Sequence[str],
    columns: int = 4,
    tile: int = 512,
    crop: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Tiles of each channel frame (C, H, W), the mask overlay and a class legend; BGR uint8.

    `crop` (x, y, w, h) zooms every tile into the same region (nearest neighbour, pixels stay sharp)."""

    def prep(img: np.ndarray) -> np.ndarray:
        if crop is not None:
            x, y, w, h = crop
            img = img[y : y + h, x : x + w]
        interp = cv2.INTER_NEAREST if crop is not None else cv2.INTER_AREA
        return cv2.resize(img, (tile, tile), interpolation=interp)

    tiles = []
    for name, frame in zip(channels, frames, strict=True):
        t = prep(cv2.cvtColor(_to8(frame), cv2.COLOR_GRAY2BGR))
        cv2.putText(t, name, (10, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 255, 255), 2)
        tiles.append(t)
    overlay = prep(mask_overlay(frames[0], mask))
    cv2.putText(overlay, "mask", (10, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 255, 255), 2)
    tiles.append(overlay)
    legend = np.zeros((tile, tile, 3), np.uint8)
    present = set(np.unique(mask).tolist())
    for i, name in enumerate(classes):
        colour = tuple(int(c) for c in CLASS_COLOURS[i % len(CLASS_COLOURS)])
        y = 40 + 36 * i
        cv2.rectangle(legend, (12, y - 22), (40, y + 4), colour if i else (80, 80, 80), -1)
        label = f"{name} ({int((mask == i).sum())} px)" if i in present else name
        cv2.putText(legend, label, (52, y), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (230, 230, 230), 1)
    tiles.append(legend)
    while len(tiles) % columns:
        tiles.append(np.zeros_like(legend))
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)
