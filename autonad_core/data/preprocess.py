"""How raw dataset pixels become network input, stored with every trained model (`preprocess.json`) so
inference (the cell's detector, `autonad predict`) feeds the network exactly what training fed it.

Pixels are scaled to [0, 1] by the bit depth (x / 255 or x / 65535), then standardised per channel with
the training split's mean and std. Geometry:
- `resize` mode: every image is resized to `input_size` (the paper resizes MT to 320x320);
  `scale` records input/native of the training images so inference rescales frames the same way.
- `crop` mode: images are rescaled by `scale` (default 1.0: native resolution) and the network trains on
  random `input_size` crops; inference tiles larger frames.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from autonad_core.data.folder import LoadedSplit

PREPROCESS_FILE = "preprocess.json"
Mode = Literal["resize", "crop"]


def to_unit(image: np.ndarray, bit_depth: int) -> np.ndarray:
    """(H, W, C) integer pixels -> float32 in [0, 1]."""
    return image.astype(np.float32) * np.float32(1.0 / (2**bit_depth - 1))


def per_channel_groups(func, image: np.ndarray) -> np.ndarray:
    """Apply an OpenCV image function to (H, W, C) in groups of <= 4 channels (some OpenCV kernels,
    e.g. resize of 16-bit data, accept at most 4), keeping the channel axis."""
    outs = []
    for start in range(0, image.shape[2], 4):
        part = np.ascontiguousarray(image[:, :, start : start + 4])
        out = func(part)
        outs.append(out.reshape(*out.shape[:2], part.shape[2]))
    return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)


def resize_image(image: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resize (H, W, C) image; area interpolation when shrinking (no aliasing), linear otherwise."""
    h, w = size_hw
    if image.shape[:2] == (h, w):
        return image
    shrink = h < image.shape[0] or w < image.shape[1]
    mode = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return per_channel_groups(lambda part: cv2.resize(part, (w, h), interpolation=mode), image)


def resize_mask(mask: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    h, w = size_hw
    if mask.shape == (h, w):
        return mask
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)


@dataclass(frozen=True)
class Preprocess:
    """Input contract of one trained model (see module docstring)."""

    channels: tuple[str, ...]
    class_names: tuple[str, ...]
    bit_depth: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: tuple[int, int]
    mode: Mode = "resize"
    scale: tuple[float, float] = (1.0, 1.0)

    @classmethod
    def fit(
        cls, train: LoadedSplit, input_size: tuple[int, int], mode: Mode, scale: float = 1.0
    ) -> Preprocess:
        """Statistics from the training split (float64 sums: exact enough for 16-bit data)."""
        c = train.spec.in_channels
        total, total_sq, count = np.zeros(c), np.zeros(c), 0
        for image in train.images:
            unit = to_unit(image, train.bit_depth).reshape(-1, c).astype(np.float64)
            total += unit.sum(0)
            total_sq += (unit**2).sum(0)
            count += unit.shape[0]
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
        std = np.where(std < 1e-6, 1.0, std)
        if mode == "resize":
            hs = np.median([input_size[0] / im.shape[0] for im in train.images])
            ws = np.median([input_size[1] / im.shape[1] for im in train.images])
            scale_hw = (float(hs), float(ws))
        else:
            scale_hw = (float(scale), float(scale))
        return cls(
            channels=tuple(train.spec.channels),
            class_names=tuple(train.spec.classes),
            bit_depth=train.bit_depth,
            mean=tuple(float(m) for m in mean),
            std=tuple(float(s) for s in std),
            input_size=(int(input_size[0]), int(input_size[1])),
            mode=mode,
            scale=scale_hw,
        )

    def normalize(self, unit: np.ndarray) -> np.ndarray:
        """(H, W, C) float in [0, 1] -> (C, H, W) float32 standardised."""
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        return np.ascontiguousarray(((unit - mean) / std).transpose(2, 0, 1), dtype=np.float32)

    def geometry(self, image: np.ndarray) -> tuple[int, int]:
        """Size (H, W) an image of this shape has once rescaled for the network."""
        return (max(1, round(image.shape[0] * self.scale[0])), max(1, round(image.shape[1] * self.scale[1])))

    def save(self, directory: Path) -> Path:
        path = Path(directory) / PREPROCESS_FILE
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def load(cls, directory: Path) -> Preprocess:
        path = Path(directory) / PREPROCESS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: model directory has no {PREPROCESS_FILE}")
        raw = json.loads(path.read_text())
        for key in ("channels", "class_names", "mean", "std", "input_size", "scale"):
            raw[key] = tuple(raw[key])
        return cls(**raw)
