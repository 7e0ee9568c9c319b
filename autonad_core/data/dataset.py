"""`SegmentationDataset`: a loaded split as torch tensors, with the model's geometry and (for training)
augmentation applied. Deterministic: sample i of epoch e is augmented with a generator seeded by
(seed, e, i), so resuming at an epoch boundary or changing the worker count changes nothing."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from autonad_core.data.augment import AugmentConfig, augment
from autonad_core.data.crop_sampling import CropPool, DefectPixels, sample_crop
from autonad_core.data.folder import LoadedSplit
from autonad_core.data.preprocess import Preprocess, resize_image, resize_mask, to_unit


class SegmentationDataset(Dataset):
    """Items are `(image, mask)`.

    Shape:
        image: (C, H, W) float32, standardised as `preprocess` says.
        mask: (H, W) int64 class indices, IGNORE_INDEX for unlabelled pixels.

    Training items (`augment` given) are `preprocess.input_size` (in `crop` mode a crop of the
    rescaled image, centred on a defect pixel with probability `class_crop_prob`, the class drawn from
    `class_crop_pool`, see data/crop_sampling.py); evaluation items are `input_size` in
    `resize` mode and the whole rescaled image in `crop` mode (sliding windows).
    """

    def __init__(
        self,
        split: LoadedSplit,
        preprocess: Preprocess,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        class_crop_prob: float = 0.0,
        class_crop_pool: CropPool = "image",
    ) -> None:
        self.names = list(split.names)
        self.preprocess = preprocess
        self.augment = augment
        self.seed = int(seed)
        self.class_crop_prob = float(class_crop_prob)
        self.class_crop_pool: CropPool = class_crop_pool
        self.epoch = 0
        self.bit_depth = split.bit_depth
        self.images: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []
        for image, mask in zip(split.images, split.masks, strict=True):
            size = preprocess.input_size if preprocess.mode == "resize" else preprocess.geometry(image)
            # Integer pixels are kept (4x less memory than float); cv2 resizes uint8/uint16 directly.
            self.images.append(resize_image(image, size))
            self.masks.append(resize_mask(mask, size))
        crops = augment is not None and preprocess.mode == "crop" and self.class_crop_prob > 0
        self.defect_pixels = DefectPixels(self.masks) if crops else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.augment is None:
            unit, mask = to_unit(self.images[index], self.bit_depth), self.masks[index]
        else:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            source, centre = index, None
            if self.defect_pixels is not None:
                source, centre = self.defect_pixels.draw(
                    index, rng, self.class_crop_prob, self.class_crop_pool
                )
            unit, mask = to_unit(self.images[source], self.bit_depth), self.masks[source]
            if self.preprocess.mode == "crop":
                unit, mask = sample_crop(unit, mask, self.preprocess.input_size, rng, centre)
            unit, mask = augment(unit, mask, self.augment, rng, self.preprocess.input_size)
        image = torch.from_numpy(self.preprocess.normalize(unit))
        return image, torch.from_numpy(mask.astype(np.int64))

    @property
    def same_size(self) -> bool:
        """True when every stored image has the same size (crop-mode evaluation can stack frames)."""
        return len({m.shape for m in self.masks}) <= 1

    @property
    def fixed_size(self) -> bool:
        """True when every item has the same size (batched evaluation possible)."""
        return self.augment is not None or self.preprocess.mode == "resize"
