"""Latency measurement done properly: warm-up runs first, device synchronisation around every timed
region (CUDA kernels run asynchronously, so an unsynchronised timer measures only the launch), batch 1,
no autograd, no data loading inside the timed region."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device | str) -> None:
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def time_forward(
    forward: Callable[[torch.Tensor], object],
    example: torch.Tensor,
    warmup: int = 2,
    repeats: int = 5,
) -> list[float]:
    """Milliseconds of each of `repeats` calls of forward(example), after `warmup` untimed calls."""
    device = example.device
    for _ in range(warmup):
        forward(example)
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        forward(example)
        synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return times
