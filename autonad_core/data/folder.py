"""The generic dataset folder (FORMAT.md): resolve split entries to image/mask files and load a split
into memory, validating every file. Nothing is skipped: the first bad file raises `DatasetError`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autonad_core.data.image_io import IMAGE_SUFFIXES, bit_depth_of, read_image, read_mask
from autonad_core.data.spec import DESCRIPTOR_NAME, IGNORE_INDEX, DatasetError, DatasetSpec


@dataclass(frozen=True)
class SampleRecord:
    """One labelled sample: its name (split-file entry), image entry (file or channel folder), mask."""

    name: str
    image: Path
    mask: Path


@dataclass
class LoadedSplit:
    """A split held in memory: images (H, W, C) uint8/uint16 and masks (H, W) uint8, same order as names."""

    spec: DatasetSpec
    split: str
    names: list[str]
    images: list[np.ndarray]
    masks: list[np.ndarray]
    bit_depth: int

    def __len__(self) -> int:
        return len(self.names)


MaskCheck = Callable[[SampleRecord, np.ndarray], None]


class DatasetFolder:
    """A dataset root: `dataset.yaml`, `images/`, `masks/` and one list file per split."""

    def __init__(self, root: Path, spec: DatasetSpec, mask_check: MaskCheck | None = None) -> None:
        self.root = Path(root)
        self.spec = spec
        self._mask_check = mask_check
        for sub in ("images", "masks"):
            if not (self.root / sub).is_dir():
                raise DatasetError(f"{self.root / sub}: missing folder (dataset format: see FORMAT.md)")

    @classmethod
    def open(cls, root: Path) -> DatasetFolder:
        root = Path(root)
        return cls(root, DatasetSpec.from_yaml(root / DESCRIPTOR_NAME))

    def split_names(self, split: str) -> list[str]:
        if split not in self.spec.splits:
            raise DatasetError(f"{self.root}: unknown split '{split}' (known: {sorted(self.spec.splits)})")
        path = self.root / self.spec.splits[split]
        if not path.is_file():
            raise DatasetError(f"{path}: split file for '{split}' not found")
        names = [line.strip() for line in path.read_text().splitlines()]
        names = [n for n in names if n and not n.startswith("#")]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise DatasetError(f"{path}: entry '{name}' listed twice")
            seen.add(name)
        if not names:
            raise DatasetError(f"{path}: split '{split}' is empty")
        return names

    def check_disjoint_splits(self) -> None:
        """A sample in two splits would leak validation data into training."""
        owner: dict[str, str] = {}
        for split in self.spec.splits:
            if not (self.root / self.spec.splits[split]).is_file():
                continue
            for name in self.split_names(split):
                key = Path(name).stem if Path(name).suffix.lower() in IMAGE_SUFFIXES else name
                if key in owner:
                    raise DatasetError(
                        f"{self.root}: sample '{name}' is in both '{owner[key]}' and '{split}'"
                    )
                owner[key] = split

    def resolve(self, name: str) -> SampleRecord:
        images, masks = self.root / "images", self.root / "masks"
        if Path(name).suffix.lower() in IMAGE_SUFFIXES:
            image, stem = images / name, Path(name).stem
        else:
            stem = name
            candidates = [images / name] if (images / name).is_dir() else []
            candidates += [images / f"{name}{s}" for s in IMAGE_SUFFIXES if (images / f"{name}{s}").is_file()]
            if not candidates:
                raise DatasetError(f"{images / name}: no image file or channel folder for entry '{name}'")
            if len(candidates) > 1:
                raise DatasetError(f"{images}: entry '{name}' is ambiguous: {[c.name for c in candidates]}")
            image = candidates[0]
        if not image.exists():
            raise DatasetError(f"{image}: image listed in a split file not found")
        mask = masks / f"{stem}.png"
        if not mask.is_file():
            raise DatasetError(f"{mask}: mask for image '{name}' not found")
        return SampleRecord(name=name, image=image, mask=mask)

    def load_split(self, split: str, limit: int | None = None) -> LoadedSplit:
        """Load (and validate) a split; `limit` keeps `limit` evenly spaced entries (deterministic, and
        spread over the list so class-sorted lists keep every class)."""
        names = self.split_names(split)
        if limit is not None and limit < len(names):
            idx = np.unique(np.linspace(0, len(names) - 1, num=max(limit, 1)).round().astype(int))
            names = [names[i] for i in idx]
        images, masks = [], []
        depth = self.spec.bit_depth
        for name in names:
            record = self.resolve(name)
            image = read_image(record.image, self.spec.channels)
            mask = read_mask(record.mask)
            if image.shape[:2] != mask.shape:
                raise DatasetError(
                    f"{record.mask}: mask size {mask.shape[1]}x{mask.shape[0]} does not match image "
                    f"{record.image.name} size {image.shape[1]}x{image.shape[0]}"
                )
            self._check_values(record, mask)
            found = bit_depth_of(image)
            if depth is None:
                depth = found
            elif found != depth:
                raise DatasetError(f"{record.image}: {found}-bit image, dataset is {depth}-bit")
            images.append(image)
            masks.append(mask)
        return LoadedSplit(self.spec, split, names, images, masks, int(depth or 8))

    def _check_values(self, record: SampleRecord, mask: np.ndarray) -> None:
        values = np.unique(mask)
        bad = [int(v) for v in values if v >= self.spec.num_classes and v != IGNORE_INDEX]
        if bad:
            raise DatasetError(
                f"{record.mask}: mask values {bad} are not class indices 0..{self.spec.num_classes - 1} "
                f"(classes {list(self.spec.classes)}) nor {IGNORE_INDEX} (ignore)"
            )
        if self._mask_check is not None:
            self._mask_check(record, mask)
