"""Scoring one candidate architecture for the evolution search: validation mIoU with weights inherited
from the supernet, latency on the target device, parameter count. Each is cached per architecture
(Arch is hashable), so a subnet that survives several generations is measured once.

The supernet uses LayerNorm/GroupNorm only (no BatchNorm), so evaluating a subnet with inherited
weights needs no BatchNorm recalibration: its normalisation does not depend on batch statistics.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch

from autonad_core.data.dataset import SegmentationDataset
from autonad_core.deploy.inference import evaluate
from autonad_core.training.timing import time_forward


@dataclass(frozen=True)
class CandidateScore:
    miou: float
    """Validation mIoU over all classes (background included), fraction in [0, 1]."""
    mf1: float
    miou_defect: float
    latency_ms: float
    params: int


class InheritedEvaluator:
    """mIoU/mF1 of `net(x, arch)` on the validation split, weights inherited from the supernet."""

    def __init__(
        self,
        net: torch.nn.Module,
        val: SegmentationDataset,
        num_classes: int,
        device: str,
        batch_size: int = 8,
    ) -> None:
        self.net = net.eval()
        self.val = val
        self.num_classes = num_classes
        self.device = device
        self.batch_size = batch_size
        self.class_names = val.preprocess.class_names

    @torch.no_grad()
    def __call__(self, arch):
        matrix = evaluate(
            lambda x: self.net(x, arch), self.val, self.num_classes, self.device, self.batch_size
        )
        return matrix.scores(self.class_names)


class LatencyMeter:
    """Median latency (ms) of the materialized subnet on the target device, batch 1, warm-up + sync."""

    def __init__(
        self,
        net: torch.nn.Module,
        device: str,
        input_shape: tuple[int, int, int, int],
        warmup: int = 2,
        repeats: int = 5,
    ) -> None:
        self.net = net
        self.device = torch.device(device)
        self.input_shape = input_shape
        self.warmup = warmup
        self.repeats = repeats
        self._cache: dict = {}

    def __call__(self, arch) -> float:
        if arch not in self._cache:
            from autonad_core.models.subnet import materialize

            model = materialize(self.net, arch).to(self.device).eval()
            example = torch.zeros(self.input_shape, device=self.device)
            self._cache[arch] = statistics.median(time_forward(model, example, self.warmup, self.repeats))
        return self._cache[arch]

    def preload(self, cache: dict) -> None:
        self._cache.update(cache)
