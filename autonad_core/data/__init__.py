"""Datasets for AutoNAD: the MT layout, the generic folder format, augmentation and the preprocessing
contract stored with every model.

Generic folder format (full description in FORMAT.md beside this file)::

    <root>/dataset.yaml      classes (index = mask value), channels (order the network sees), bit_depth
    <root>/images/<stem>.png | <stem>.tif (one page per channel) | <stem>/<channel>.png (one per channel)
    <root>/masks/<stem>.png  8-bit class-index PNG, same size; 255 = unlabelled (ignored)
    <root>/train.txt, val.txt  one stem (or image file name) per line

Grey, RGB and N-channel images, 8- or 16-bit. Every bad file raises `DatasetError` naming it; nothing is
skipped. `open_dataset(root)` also reads ../shared/datasets/mt320 (the MT layout, no dataset.yaml).
"""

from autonad_core.data.augment import AugmentConfig, augment
from autonad_core.data.dataset import SegmentationDataset
from autonad_core.data.folder import DatasetFolder, LoadedSplit, SampleRecord
from autonad_core.data.image_io import read_image, read_mask
from autonad_core.data.mt import MT_CLASSES, MT_SPEC, open_dataset, open_mt
from autonad_core.data.preprocess import PREPROCESS_FILE, Preprocess
from autonad_core.data.spec import IGNORE_INDEX, DatasetError, DatasetSpec

__all__ = [
    "IGNORE_INDEX",
    "MT_CLASSES",
    "MT_SPEC",
    "PREPROCESS_FILE",
    "AugmentConfig",
    "DatasetError",
    "DatasetFolder",
    "DatasetSpec",
    "LoadedSplit",
    "Preprocess",
    "SampleRecord",
    "SegmentationDataset",
    "augment",
    "open_dataset",
    "open_mt",
    "read_image",
    "read_mask",
]
