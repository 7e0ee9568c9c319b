"""Mean ± sd over seeds as the benchmark tables print it."""

from __future__ import annotations

import math

import pytest

from autonad_core.seed_stats import format_mean_sd, mean_sd, summarise


def test_mean_and_sample_sd() -> None:
    assert mean_sd([80.0, 82.0, 84.0]) == pytest.approx((82.0, 2.0))
    assert mean_sd([5.0]) == (5.0, 0.0)
    assert mean_sd([1.0, float("nan"), 3.0]) == pytest.approx((2.0, math.sqrt(2)))
    assert all(math.isnan(v) for v in mean_sd([]))


def test_format_and_summary() -> None:
    assert format_mean_sd([80.0, 82.0, 84.0]) == "82.0 ± 2.0"
    assert format_mean_sd([float("nan")]) == "-"
    table = summarise([{"miou": 0.5, "t": 1.0}, {"miou": 0.7}], ["miou", "t"])
    assert table["miou"] == pytest.approx({"mean": 0.6, "sd": math.sqrt(0.02), "n": 2})
    assert table["t"]["n"] == 1 and table["t"]["sd"] == 0.0
