"""Class-aware crop sampling for `crop` mode: at native resolution a thin crack or a blowhole covers
well under 1 % of an image, so uniformly placed crops rarely hold one and the network learns "all
background". With probability `class_prob` a training crop is instead centred on a random pixel of a
defect class present in the image (the class drawn uniformly among those present, so a small class is
as likely as a large one); otherwise it is placed uniformly. Randomness comes only from the generator
passed in (deterministic per (seed, epoch, index), as the rest of the augmentation)."""

from __future__ import annotations

import numpy as np

from autonad_core.data.spec import IGNORE_INDEX


def crop_origin(
    mask: np.ndarray, size_hw: tuple[int, int], rng: np.random.Generator, class_prob: float
) -> tuple[int, int]:
    """Top-left (y, x) of a `size_hw` crop inside `mask` (H, W); the crop never leaves the image."""
    h, w = size_hw
    ih, iw = mask.shape
    if h > ih or w > iw:
        raise ValueError(f"crop {h}x{w} larger than the image {ih}x{iw}")
    if class_prob > 0 and rng.random() < class_prob:
        classes = [int(c) for c in np.unique(mask) if c != 0 and c != IGNORE_INDEX]
        if classes:
            chosen = classes[int(rng.integers(len(classes)))]
            ys, xs = np.nonzero(mask == chosen)
            j = int(rng.integers(len(ys)))
            y = min(max(int(ys[j]) - h // 2, 0), ih - h)
            x = min(max(int(xs[j]) - w // 2, 0), iw - w)
            return y, x
    return int(rng.integers(0, ih - h + 1)), int(rng.integers(0, iw - w + 1))


def sample_crop(
    image: np.ndarray, mask: np.ndarray, size_hw: tuple[int, int], rng: np.random.Generator, class_prob: float
) -> tuple[np.ndarray, np.ndarray]:
    """The (image, mask) crop at `crop_origin`. Shape: (H, W, C), (H, W) -> (h, w, C), (h, w)."""
    y, x = crop_origin(mask, size_hw, rng, class_prob)
    h, w = size_hw
    return image[y : y + h, x : x + w], mask[y : y + h, x : x + w]
