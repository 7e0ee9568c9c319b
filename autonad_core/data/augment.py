"""Training augmentation with OpenCV, as in the paper: flips, rotation, random resize.

Image and mask get the same geometric transform; the image is interpolated linearly, the mask with
nearest neighbour; pixels that come from outside the image (rotation corners, padding) are 0 in the
image and IGNORE_INDEX in the mask, so they never count in the loss. Randomness comes only from the
`numpy.random.Generator` passed in, so a sample's augmentation depends on (seed, epoch, index) alone
(resumable and independent of the number of data-loader workers).
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from autonad_core.data.preprocess import per_channel_groups
from autonad_core.data.spec import IGNORE_INDEX


class AugmentConfig(BaseModel):
    """Which augmentations run during supernet training and retraining."""

    model_config = ConfigDict(extra="forbid")

    hflip: bool = True
    vflip: bool = True
    rot90: bool = True
    """Rotate by a random multiple of 90 degrees (the authors' code); square inputs only, else 0/180."""
    rotate_deg: float = Field(default=0.0, ge=0.0, le=180.0)
    """Extra free rotation, uniform in [-rotate_deg, +rotate_deg]."""
    scale_range: tuple[float, float] = (1.0, 1.0)
    """Random resize factor range; the result is cropped / padded back to the input size."""

    @model_validator(mode="after")
    def _range(self) -> AugmentConfig:
        lo, hi = self.scale_range
        if not 0.1 <= lo <= hi <= 10.0:
            raise ValueError(f"scale_range must satisfy 0.1 <= low <= high <= 10, got {self.scale_range}")
        return self


def _fit_to(image: np.ndarray, mask: np.ndarray, size_hw: tuple[int, int], rng: np.random.Generator):
    """Random crop to size_hw, padding (image 0, mask ignore) where the input is smaller."""
    h, w = size_hw
    ih, iw = mask.shape
    ph, pw = max(h - ih, 0), max(w - iw, 0)
    if ph or pw:
        top, left = int(rng.integers(0, ph + 1)), int(rng.integers(0, pw + 1))
        image = np.pad(image, ((top, ph - top), (left, pw - left), (0, 0)))
        mask = np.pad(mask, ((top, ph - top), (left, pw - left)), constant_values=IGNORE_INDEX)
        ih, iw = mask.shape
    y, x = int(rng.integers(0, ih - h + 1)), int(rng.integers(0, iw - w + 1))
    return image[y : y + h, x : x + w], mask[y : y + h, x : x + w]


def _rotate(image: np.ndarray, mask: np.ndarray, degrees: float):
    h, w = mask.shape
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), degrees, 1.0)
    out = per_channel_groups(
        lambda part: cv2.warpAffine(
            part, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        ),
        image,
    )
    m = cv2.warpAffine(
        mask,
        matrix,
        (w, h),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=IGNORE_INDEX,
    )
    return out, m


def augment(
    image: np.ndarray,
    mask: np.ndarray,
    config: AugmentConfig,
    rng: np.random.Generator,
    out_size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Augment (H, W, C) float32 image and (H, W) uint8 mask; returns arrays of size `out_size`."""
    lo, hi = config.scale_range
    factor = float(rng.uniform(lo, hi)) if hi > lo else lo
    if factor != 1.0:
        h, w = mask.shape
        nh, nw = max(1, round(h * factor)), max(1, round(w * factor))
        image = per_channel_groups(
            lambda part: cv2.resize(part, (nw, nh), interpolation=cv2.INTER_LINEAR), image
        )
        mask = cv2.resize(mask, (nw, nh), interpolation=cv2.INTER_NEAREST)
    if mask.shape != out_size:
        image, mask = _fit_to(image, mask, out_size, rng)
    if config.hflip and rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    if config.vflip and rng.random() < 0.5:
        image, mask = image[::-1], mask[::-1]
    if config.rot90:
        square = mask.shape[0] == mask.shape[1]
        k = int(rng.integers(0, 4)) if square else 2 * int(rng.integers(0, 2))
        if k:
            image, mask = np.rot90(image, k, axes=(0, 1)), np.rot90(mask, k)
    if config.rotate_deg > 0:
        angle = float(rng.uniform(-config.rotate_deg, config.rotate_deg))
        image, mask = _rotate(np.ascontiguousarray(image), np.ascontiguousarray(mask), angle)
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)
