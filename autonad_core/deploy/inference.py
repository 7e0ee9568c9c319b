"""Running a segmentation network over images of any size, and evaluating it on a dataset.

`sliding_window_probabilities` covers a frame larger than the network's training tile with overlapping
tiles (default 25% overlap) and averages the per-class probabilities where tiles overlap; frames not
larger than the tile run in one pass (the networks accept any H, W)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import DataLoader

from autonad_core.data.dataset import SegmentationDataset
from autonad_core.metrics import ConfusionMatrix

Forward = Callable[[torch.Tensor], torch.Tensor]


def check_overlap(overlap: float) -> float:
    """Window overlap is a fraction of the window: at 1 (the whole window) or more the window would
    never advance, below 0 it would leave gaps."""
    if not isinstance(overlap, int | float) or not 0.0 <= overlap < 1.0:
        raise ValueError(
            f"window overlap {overlap!r} must be a fraction of the window in [0, 1) (0.25 = a quarter); "
            "an overlap of the whole window or more never advances"
        )
    return float(overlap)


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


@torch.no_grad()
def sliding_window_probabilities(
    forward: Forward, image: torch.Tensor, tile: tuple[int, int], overlap: float = 0.25
) -> torch.Tensor:
    """Softmax probabilities for a batch of frames.

    Shape: image (B, C, H, W) -> (B, K, H, W).
    """
    check_overlap(overlap)
    _, _, h, w = image.shape
    th, tw = tile
    if h <= th and w <= tw:
        return torch.softmax(forward(image).float(), dim=1)
    sh, sw = max(1, int(th * (1 - overlap))), max(1, int(tw * (1 - overlap)))
    total = None
    count = torch.zeros(1, 1, h, w, device=image.device)
    for y in _starts(h, th, sh):
        for x in _starts(w, tw, sw):
            crop = image[:, :, y : y + th, x : x + tw]
            probs = torch.softmax(forward(crop).float(), dim=1)
            if total is None:
                total = torch.zeros(image.shape[0], probs.shape[1], h, w, device=image.device)
            total[:, :, y : y + crop.shape[2], x : x + crop.shape[3]] += probs
            count[:, :, y : y + crop.shape[2], x : x + crop.shape[3]] += 1
    return total / count


@torch.no_grad()
def evaluate(
    forward: Forward,
    dataset: SegmentationDataset,
    num_classes: int,
    device: torch.device | str,
    batch_size: int = 8,
) -> ConfusionMatrix:
    """Confusion matrix of `forward` over the whole dataset (one matrix, not a mean of per-image scores)."""
    matrix = ConfusionMatrix(num_classes)
    tile = dataset.preprocess.input_size
    loader = DataLoader(dataset, batch_size=batch_size if dataset.fixed_size else 1, shuffle=False)
    for image, mask in loader:
        image = image.to(device)
        if dataset.fixed_size:
            prediction = forward(image).argmax(1)
        else:
            prediction = sliding_window_probabilities(forward, image, tile).argmax(1)
        matrix.update(prediction.cpu(), mask)
    return matrix
