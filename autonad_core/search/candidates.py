"""Scoring one candidate architecture for the evolution search: validation mIoU with weights inherited
from the supernet (cached per architecture by the search), latency from the design's latency table
(training/latency_table.py: a sum of measured parts, the same number on every run), parameter count.

The supernet uses LayerNorm/GroupNorm only (no BatchNorm), so evaluating a subnet with inherited
weights needs no BatchNorm recalibration: its normalisation does not depend on batch statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from autonad_core.data.dataset import SegmentationDataset
from autonad_core.deploy.inference import evaluate


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
