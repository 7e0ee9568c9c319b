"""Latency measurement done properly: warm-up runs first, device synchronisation around every timed
region (CUDA kernels run asynchronously, so an unsynchronised timer measures only the launch), batch 1,
no autograd, no data loading inside the timed region."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path

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


def cpu_name() -> str:
    """The host CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: torch.device | str) -> str:
    """What a latency was measured on: the GPU's name, or the CPU's name with torch's thread count
    (on a CPU the thread count changes latency as much as the chip does)."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {cpu_name()}, {torch.get_num_threads()} threads"
