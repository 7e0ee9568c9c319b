"""`autonad evaluate`: score a model folder on a dataset split with the project's metric code, next to
the trivial all-background predictor scored by the same code (a model must beat it to be useful)."""

from __future__ import annotations

from pathlib import Path

import torch

from autonad_core.data.dataset import SegmentationDataset
from autonad_core.data.mt import open_dataset
from autonad_core.data.preprocess import Preprocess
from autonad_core.deploy.inference import evaluate
from autonad_core.deploy.predict import resolve_model_dir
from autonad_core.metrics import ConfusionMatrix


def all_background_scores(dataset: SegmentationDataset, num_classes: int, class_names) -> dict:
    matrix = ConfusionMatrix(num_classes)
    for index in range(len(dataset)):
        _, mask = dataset[index]
        matrix.update(torch.zeros_like(mask), mask)
    return matrix.scores(class_names).as_dict()


def evaluate_model_dir(
    model_dir: Path,
    dataset_dir: Path,
    split: str = "val",
    device: str = "cpu",
    max_images: int | None = None,
    batch_size: int = 8,
) -> dict:
    from autonad_core.models.subnet import load_subnet

    model_dir = resolve_model_dir(model_dir)
    preprocess = Preprocess.load(model_dir)
    folder = open_dataset(Path(dataset_dir))
    if tuple(folder.spec.classes) != tuple(preprocess.class_names):
        raise ValueError(
            f"{dataset_dir}: classes {list(folder.spec.classes)} differ from the model's "
            f"{list(preprocess.class_names)}"
        )
    dataset = SegmentationDataset(folder.load_split(split, max_images), preprocess)
    model = load_subnet(model_dir).to(device).eval()
    k = len(preprocess.class_names)
    scores = evaluate(model, dataset, k, device, batch_size).scores(preprocess.class_names)
    return {
        "model_dir": str(model_dir),
        "split": split,
        "images": len(dataset),
        "model": scores.as_dict(),
        "all_background": all_background_scores(dataset, k, preprocess.class_names),
    }
