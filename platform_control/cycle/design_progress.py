"""AutoNAD's per-stage progress -> one fraction for the whole design.

`autonad_core.design` reports each stage (supernet, search, retrain, evaluate, export) from 0 to 1.
The technician wants one bar: stages get weights by their typical share of the run time on the cell's
budgets (supernet training dominates), and the overall fraction never goes backwards (a stage that
restarts its count, e.g. after a resume, does not move the bar back).
"""

from __future__ import annotations

from collections.abc import Mapping

STAGE_WEIGHTS: dict[str, float] = {
    "supernet": 0.50,
    "search": 0.20,
    "retrain": 0.25,
    "evaluate": 0.03,
    "export": 0.02,
}


class DesignProgress:
    """Feed `update(stage, fraction)`; read `overall` in [0, 1]."""

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        weights = dict(weights or STAGE_WEIGHTS)
        total = sum(weights.values())
        if total <= 0 or any(w < 0 for w in weights.values()):
            raise ValueError(f"stage weights must be >= 0 with a positive sum, got {weights}")
        self.order = list(weights)
        self.weights = {k: v / total for k, v in weights.items()}
        self._done: dict[str, float] = {k: 0.0 for k in self.order}
        self.overall = 0.0
        self.stage = ""

    def update(self, stage: str, fraction: float) -> float:
        """Record `stage` at `fraction`; earlier stages count as finished. Returns the overall fraction."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        self.stage = stage
        if stage in self._done:
            for earlier in self.order[: self.order.index(stage)]:
                self._done[earlier] = 1.0
            self._done[stage] = max(self._done[stage], fraction)
        value = sum(self.weights[k] * self._done[k] for k in self.order)
        self.overall = max(self.overall, min(value, 1.0))
        return self.overall
