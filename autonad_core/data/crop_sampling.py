"""Class-aware crop sampling for `crop` mode: at native resolution a thin crack or a blowhole covers
well under 1 % of an image, so uniformly placed crops rarely hold one and the network learns "all
background". With probability `class_prob` a training crop is instead centred on a random pixel of a
defect class; otherwise it is placed uniformly. Where the class comes from is the `pool`:

- `image`: drawn uniformly among the defect classes present in the item's own image, so within an
  image a small class is as likely as a large one;
- `dataset`: drawn uniformly among the defect classes of the whole training split, then an image
  holding it is drawn, so a class found in one image of ten is centred on as often as one found in
  every image (the item's crop may then come from another image).

Randomness comes only from the generator passed in (deterministic per (seed, epoch, index), as the
rest of the augmentation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from autonad_core.data.spec import IGNORE_INDEX

CropPool = Literal["image", "dataset"]


class DefectPixels:
    """Where each defect class lies in each training mask, found once (a 1224×1024 mask takes
    milliseconds to search, every item of every epoch)."""

    def __init__(self, masks: Sequence[np.ndarray]) -> None:
        self.widths = [int(mask.shape[1]) for mask in masks]
        self._pixels: list[dict[int, np.ndarray]] = []  # per image: class -> flat indices, row-major
        for mask in masks:
            flat = mask.ravel()
            where = np.flatnonzero((flat != 0) & (flat != IGNORE_INDEX))
            labels = flat[where]
            order = np.argsort(labels, kind="stable")  # stable: each class keeps row-major order
            classes, starts = np.unique(labels[order], return_index=True)
            groups = np.split(where[order], starts[1:]) if len(classes) else []  # split([]) gives [[]]
            self._pixels.append({int(c): g for c, g in zip(classes, groups, strict=True)})
        self.images_with: dict[int, list[int]] = {}
        for i, pixels in enumerate(self._pixels):
            for c in pixels:
                self.images_with.setdefault(c, []).append(i)
        self.images_with = dict(sorted(self.images_with.items()))

    def classes_in(self, index: int) -> list[int]:
        return sorted(self._pixels[index])

    def pixel(self, index: int, cls: int, rng: np.random.Generator) -> tuple[int, int]:
        """A uniformly drawn (y, x) of class `cls` in image `index`."""
        pixels = self._pixels[index][cls]
        flat = int(pixels[int(rng.integers(len(pixels)))])
        return divmod(flat, self.widths[index])

    def draw(
        self, index: int, rng: np.random.Generator, class_prob: float, pool: CropPool = "image"
    ) -> tuple[int, tuple[int, int] | None]:
        """(image to crop, defect pixel to centre on, or None for a uniformly placed crop)."""
        if class_prob <= 0 or rng.random() >= class_prob:
            return index, None
        if pool == "dataset":
            classes = list(self.images_with)
            if not classes:
                return index, None
            cls = classes[int(rng.integers(len(classes)))]
            holders = self.images_with[cls]
            index = holders[int(rng.integers(len(holders)))]
        else:
            classes = self.classes_in(index)
            if not classes:
                return index, None
            cls = classes[int(rng.integers(len(classes)))]
        return index, self.pixel(index, cls, rng)


def crop_origin(
    image_hw: tuple[int, int],
    size_hw: tuple[int, int],
    rng: np.random.Generator,
    centre: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """Top-left (y, x) of a `size_hw` crop inside an `image_hw` image, centred on `centre` (clamped:
    the crop never leaves the image) or, without one, placed uniformly."""
    h, w = size_hw
    ih, iw = image_hw
    if h > ih or w > iw:
        raise ValueError(f"crop {h}x{w} larger than the image {ih}x{iw}")
    if centre is not None:
        y = min(max(centre[0] - h // 2, 0), ih - h)
        x = min(max(centre[1] - w // 2, 0), iw - w)
        return y, x
    return int(rng.integers(0, ih - h + 1)), int(rng.integers(0, iw - w + 1))


def sample_crop(
    image: np.ndarray,
    mask: np.ndarray,
    size_hw: tuple[int, int],
    rng: np.random.Generator,
    centre: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The (image, mask) crop at `crop_origin`. Shape: (H, W, C), (H, W) -> (h, w, C), (h, w)."""
    y, x = crop_origin(mask.shape, size_hw, rng, centre)
    h, w = size_hw
    return image[y : y + h, x : x + w], mask[y : y + h, x : x + w]
