"""Summaries over seeds for the benchmarks' tables: mean ± sample standard deviation (n - 1; 0 for a
single seed), so every row says how much it moved between seeds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample sd) of the finite values; (nan, nan) when there are none."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return float("nan"), float("nan")
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0


def format_mean_sd(values: Sequence[float], digits: int = 1) -> str:
    """'81.3 ± 0.4' ('-' when no value is finite)."""
    mean, sd = mean_sd(values)
    return "-" if math.isnan(mean) else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def summarise(runs: Sequence[Mapping[str, float]], keys: Sequence[str]) -> dict[str, dict[str, float]]:
    """{key: {"mean", "sd", "n"}} over the runs (one mapping per seed) for each numeric key."""
    out = {}
    for key in keys:
        values = [r[key] for r in runs if key in r]
        mean, sd = mean_sd(values)
        out[key] = {"mean": mean, "sd": sd, "n": len(values)}
    return out
