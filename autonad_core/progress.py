"""Progress reports from long AutoNAD stages to whoever drives them (CLI, ROS action, tests).

A callback receives `ProgressEvent`s; raising from the callback cancels the stage (its last completed
epoch / generation stays on disk and the run resumes from there)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProgressEvent:
    stage: str
    """'supernet', 'search', 'retrain', 'evaluate' or 'export'."""
    fraction: float
    """Progress of this stage in [0, 1]."""
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


ProgressCallback = Callable[[ProgressEvent], None]


def report(
    callback: ProgressCallback | None, stage: str, fraction: float, message: str = "", **metrics
) -> None:
    if callback is not None:
        callback(ProgressEvent(stage, min(max(float(fraction), 0.0), 1.0), message, dict(metrics)))
