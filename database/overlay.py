"""Defect overlay images, rendered on demand from a capture frame and the detector's class mask."""

from __future__ import annotations

import cv2
import numpy as np

# BGR colours per class index (1..); background stays uncoloured.
_PALETTE = np.array(
    [[0, 0, 0], [40, 40, 230], [40, 200, 40], [230, 120, 30], [0, 200, 230], [200, 40, 200], [230, 230, 40]],
    dtype=np.uint8,
)


def to_display_bgr(frame: np.ndarray) -> np.ndarray:
    """Any grey/colour, 8/16-bit frame as 8-bit BGR for drawing."""
    if frame.dtype != np.uint8:
        frame = cv2.normalize(frame, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame.copy()


def render_overlay(
    frame: np.ndarray,
    mask: np.ndarray | None,
    contour: list[list[int]],
    bbox: tuple[int, int, int, int],
    label: str,
    alpha: float = 0.45,
    min_size: int = 320,
) -> bytes:
    """PNG bytes: the frame, the class mask tinted per class, the defect's contour and box, a label.

    `mask` must have the frame's height and width (the caller decides what to do otherwise). Small
    frames are enlarged (nearest neighbour) to `min_size` so thin defects stay visible in a browser.
    """
    canvas = to_display_bgr(frame)
    if mask is not None:
        if mask.shape[:2] != canvas.shape[:2]:
            raise ValueError(f"mask shape {mask.shape[:2]} differs from frame shape {canvas.shape[:2]}")
        classes = np.clip(mask.astype(np.int64), 0, len(_PALETTE) - 1)
        tint = _PALETTE[classes]
        on = classes > 0
        canvas[on] = (canvas[on] * (1 - alpha) + tint[on] * alpha).astype(np.uint8)
    scale = max(1, int(np.ceil(min_size / max(1, min(canvas.shape[:2])))))
    if scale > 1:
        canvas = cv2.resize(canvas, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    x, y, w, h = (int(v) * scale for v in bbox)
    cv2.rectangle(canvas, (x, y), (x + w, y + h), (0, 230, 255), 1)
    if len(contour) >= 2:
        points = (np.asarray(contour, dtype=np.int32).reshape(-1, 1, 2) * scale).astype(np.int32)
        cv2.polylines(canvas, [points], isClosed=True, color=(0, 0, 255), thickness=2)
    (text_w, text_h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    text_x = min(max(0, x), max(0, canvas.shape[1] - text_w - 2))
    text_y = y - 4 if y - 4 >= text_h else min(canvas.shape[0] - 2, y + h + text_h + 4)
    cv2.putText(
        canvas, label, (text_x, text_y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 230, 255), 1, cv2.LINE_AA
    )
    ok, encoded = cv2.imencode(".png", canvas)
    if not ok:  # pragma: no cover - imencode of a uint8 BGR image does not fail
        raise RuntimeError("PNG encoding of the overlay failed")
    return encoded.tobytes()
