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


WINDOW_BATCH = 8
"""Windows per forward pass: the network's activations scale with this, never with the frame."""


def window_origins(size_hw: tuple[int, int], tile: tuple[int, int], overlap: float) -> list[tuple[int, int]]:
    """Top-left corners (y, x) of the windows covering a frame of `size_hw`, row by row; the last
    row/column is flush with the border so every pixel is covered."""
    check_overlap(overlap)
    (h, w), (th, tw) = size_hw, tile
    sh, sw = max(1, int(th * (1 - overlap))), max(1, int(tw * (1 - overlap)))
    return [(y, x) for y in _starts(h, th, sh) for x in _starts(w, tw, sw)]


@torch.no_grad()
def sliding_window_probabilities(
    forward: Forward,
    image: torch.Tensor,
    tile: tuple[int, int],
    overlap: float = 0.25,
    window_batch: int = WINDOW_BATCH,
) -> torch.Tensor:
    """Softmax probabilities for a batch of frames of any size, stitched from overlapping windows.

    Windows go through `forward` `window_batch` at a time (a stack of crops, each frame's windows in
    turn), so the network's memory is bounded by that batch, not by the frame; the only frame-sized
    buffers are the input, the (B, K, H, W) probability sum and one (H, W) window count.

    Shape: image (B, C, H, W) -> (B, K, H, W).
    """
    if window_batch < 1:
        raise ValueError(f"window_batch must be >= 1, got {window_batch}")
    origins = window_origins(tuple(image.shape[-2:]), tile, overlap)
    b, _, h, w = image.shape
    if len(origins) == 1:
        return torch.softmax(forward(image).float(), dim=1)
    th, tw = min(tile[0], h), min(tile[1], w)
    jobs = [(i, y, x) for i in range(b) for y, x in origins]
    total = None
    count = torch.zeros(h, w, device=image.device)
    for y, x in origins:
        count[y : y + th, x : x + tw] += 1
    for start in range(0, len(jobs), window_batch):
        chunk = jobs[start : start + window_batch]
        crops = torch.stack([image[i, :, y : y + th, x : x + tw] for i, y, x in chunk])
        probs = torch.softmax(forward(crops).float(), dim=1)
        if total is None:
            total = torch.zeros(b, probs.shape[1], h, w, device=image.device)
        for (i, y, x), p in zip(chunk, probs, strict=True):
            total[i, :, y : y + th, x : x + tw] += p
        del crops, probs
    return total.div_(count)


@torch.no_grad()
def evaluate(
    forward: Forward,
    dataset: SegmentationDataset,
    num_classes: int,
    device: torch.device | str,
    batch_size: int = 8,
) -> ConfusionMatrix:
    """Confusion matrix of `forward` over the whole dataset (one matrix, not a mean of per-image scores).

    `resize` mode: batches of network-sized images. `crop` mode: each whole rescaled image by sliding
    windows (`batch_size` windows per forward pass), the stitched full-size mask scored against the
    full-size ground truth; images of one size are stacked `batch_size` at a time."""
    matrix = ConfusionMatrix(num_classes)
    tile = dataset.preprocess.input_size
    batched = dataset.fixed_size or dataset.same_size
    loader = DataLoader(dataset, batch_size=batch_size if batched else 1, shuffle=False)
    for image, mask in loader:
        image = image.to(device)
        if dataset.fixed_size:
            prediction = forward(image).argmax(1)
        else:
            prediction = sliding_window_probabilities(forward, image, tile, window_batch=batch_size).argmax(1)
        matrix.update(prediction.cpu(), mask)
    return matrix
